// Package chaos tests whole meshes the way Jepsen tests databases: clients record
// every call they make with its outcome, a nemesis injects faults on a schedule
// drawn from a seed, and once the faults stop and the network heals a checker
// verifies the invariants of DESIGN.md §2 against the history.
//
// The parts:
//
//   - History records client operations: ok (applied), failed (definitely not
//     applied) or unknown (timeout, lost connection, 503), each with the tries
//     it took — one logical write, however many peers its retries reached.
//   - Client is the recording HTTP client of the frontend API; Workload drives
//     sessions of it the way regional frontends call a mesh: each session
//     stays with a peer, moves now and then, and after an answer it cannot
//     trust sends the write again with the same idempotency key at other peers
//     of the same or another region, passing its causal token to whichever
//     peer it calls, cut off or not. Its calls are increments, reactions of
//     users shared between regions, and reactions of users it owns.
//   - Cluster is a mesh under test with the faults it can inject: in process over
//     the fault network (package chaos/inprocess), or one process per peer in
//     network namespaces (package chaos/netns).
//   - Run runs a workload and a fault schedule against a Cluster, heals it, waits
//     for convergence and checks; Check is the checker alone, and Report the
//     verdict with its summary.
//
// Every run has a seed. The schedule of faults, their targets and every
// session's choice of operations, peers and failover routes come from it, so a seed replays a run's plan;
// the interleaving with the mesh's own timing does not replay exactly.
package chaos
