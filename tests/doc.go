// Package tests holds black-box tests of countermesh as a whole: the layout rules
// of the design, and (as the mesh grows) whole meshes under chaos, crashes and a
// real browser.
package tests
