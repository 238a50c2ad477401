package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/httpapi/client"
)

const statusUsage = `Usage:
  countermesh status --peer URL [--token-file F | --token T] [--json] [--timeout D]

status asks one peer how it sees the mesh (GET URL/v1/mesh) and prints every
region and peer of its topology: membership, link, replication lag in sequences
and seconds, and bytes sent and received. URL is the peer's API address,
http://host:port or host:port. The peer asked is marked *. The bearer token is
read from --token-file, else --token (which lands in shell history), else
$COUNTERMESH_TOKEN; --json prints the peer's answer as it is.

Example:
  countermesh status --peer 127.0.0.1:7301 --token-file certs/frontend.token
`

// tokenEnv names the environment variable holding the API's bearer token.
const tokenEnv = "COUNTERMESH_TOKEN"

// maxStatusBody bounds the answer read from a peer.
const maxStatusBody = 16 << 20

// runStatus runs "countermesh status --peer URL ...".
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("status", flag.ContinueOnError)
	peer := flags.String("peer", "", "API URL of the peer to ask (required)")
	token := flags.String("token", "", "bearer token of the API (default $"+tokenEnv+"); prefer --token-file")
	tokenFile := flags.String("token-file", "", "file holding the bearer token of the API")
	raw := flags.Bool("json", false, "print the peer's JSON answer instead of a table")
	timeout := flags.Duration("timeout", 10*time.Second, "how long to wait for the answer")
	if err := parseFlags(flags, statusUsage, args, stdout); err != nil {
		return err
	}
	switch {
	case flags.NArg() > 0:
		return fmt.Errorf("%w: status: unexpected argument %q", errUsage, flags.Arg(0))
	case *peer == "":
		return fmt.Errorf("%w: status: --peer is required", errUsage)
	case *timeout <= 0:
		return fmt.Errorf("%w: status: --timeout must be positive", errUsage)
	}
	u, err := meshURL(*peer)
	if err != nil {
		return fmt.Errorf("%w: status: %v", errUsage, err)
	}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("%w: status: --token-file: %v", errUsage, err)
		}
		*token = strings.TrimSpace(string(b))
	}
	if *token == "" {
		*token = os.Getenv(tokenEnv)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	body, err := fetchMesh(ctx, u, *token)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	var st region.MeshStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("status: %s answered something other than a mesh status: %w", u, err)
	}
	if *raw {
		_, err = fmt.Fprintln(stdout, strings.TrimRight(string(body), "\n"))
		return err
	}
	return printMesh(stdout, st)
}

// meshURL returns the /v1/mesh URL of the peer whose API is at peer.
func meshURL(peer string) (string, error) {
	if !strings.Contains(peer, "://") {
		peer = "http://" + peer
	}
	u, err := url.Parse(peer)
	switch {
	case err != nil:
		return "", fmt.Errorf("bad --peer: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("bad --peer %q: want an http or https URL", peer)
	case u.Host == "":
		return "", fmt.Errorf("bad --peer %q: no host", peer)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/mesh"
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// fetchMesh GETs u and returns the body of a 200 answer.
func fetchMesh(ctx context.Context, u, token string) ([]byte, error) {
	base := strings.TrimSuffix(u, "/v1/mesh")
	c, err := client.New(client.Config{Peers: []string{base}, Token: token, Attempts: 1})
	if err != nil {
		return nil, err
	}
	body, err := c.Session().Mesh(ctx)
	var p *client.Problem
	var unknown *client.UnknownError
	switch {
	case errors.As(err, &p):
		return nil, answerError(u, p, token != "")
	case errors.As(err, &unknown), errors.Is(err, client.ErrNotSent):
		return nil, fmt.Errorf("cannot reach the peer: %w", err)
	case err != nil:
		return nil, fmt.Errorf("%s answered something other than a mesh status: %w", u, err)
	case len(body) > maxStatusBody:
		return nil, fmt.Errorf("answer of %s is over %s", u, humanBytes(maxStatusBody))
	}
	return body, nil
}

func answerError(u string, p *client.Problem, withToken bool) error {
	why := p.Detail
	if why == "" {
		why = p.Title
	}
	msg := fmt.Sprintf("%s answered %d %s", u, p.Status, http.StatusText(p.Status))
	if why != "" {
		msg += ": " + strings.Join(strings.Fields(why[:min(len(why), 300)]), " ")
	}
	if p.Status == http.StatusUnauthorized && !withToken {
		msg += " (give a token with --token-file, --token or $" + tokenEnv + ")"
	}
	return errors.New(msg)
}

func printMesh(w io.Writer, st region.MeshStatus) error {
	fmt.Fprintf(w, "mesh %s, self %s (region %s), replica %s, last sequence %d\n",
		st.Mesh, st.Self, st.Region, st.Replica, st.LastSeq)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tPEER\tMEMBERSHIP\tLINK\tLAG(seqs)\tLAG(s)\tSENT\tRECEIVED")
	var skews []string
	for _, r := range st.Regions {
		for _, p := range r.Peers {
			if p.Self {
				fmt.Fprintf(tw, "%s\t%s *\t%s\tself\t-\t-\t-\t-\n", r.Name, p.Name, p.Membership)
				continue
			}
			link := "down"
			if p.Linked {
				link = "up"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.1f\t%s\t%s\n", r.Name, p.Name, p.Membership, link,
				p.LagSeqs, p.LagSeconds, humanBytes(p.BytesSent), humanBytes(p.BytesReceived))
			if p.ClockSkew != "" {
				skews = append(skews, fmt.Sprintf("clock skew: %s: %s", p.Name, p.ClockSkew))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "* the peer asked")
	for _, s := range skews {
		fmt.Fprintln(w, s)
	}
	return nil
}
