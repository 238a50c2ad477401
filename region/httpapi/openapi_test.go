package httpapi

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// openAPIDoc is the part of the OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

// documentedRoutes returns every "METHOD /path" the document describes.
func documentedRoutes(t *testing.T) []string {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi.json is version %q, want 3.1.0", doc.OpenAPI)
	}
	var routes []string
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			routes = append(routes, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(routes)
	return routes
}

// The document names every route the server registers, and nothing else.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	e := newEnv(t, nil)
	served := slices.Sorted(slices.Values(e.s.patterns))
	if doc := documentedRoutes(t); !slices.Equal(doc, served) {
		t.Errorf("documented routes\n  %v\nserved routes\n  %v", doc, served)
	}
}

// schemas compiles the document's component schemas for validating answers.
func schemas(t *testing.T) func(name string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(OpenAPI()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	return func(name string) *jsonschema.Schema {
		s, err := c.Compile("openapi.json#/components/schemas/" + name)
		if err != nil {
			t.Fatalf("compile %s: %v", name, err)
		}
		return s
	}
}

// Real answers of every kind validate against the document's schemas, and the
// document served is the one embedded.
func TestAnswersMatchTheOpenAPIDocument(t *testing.T) {
	e := newEnv(t, withTokens)
	e.token = "secret-a"
	schema := schemas(t)
	check := func(what, name string, r response, status int) {
		t.Helper()
		if r.code != status {
			t.Fatalf("%s: status %d, want %d: %s", what, r.code, status, r.body)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.body))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := schema(name).Validate(v); err != nil {
			t.Errorf("%s: answer %s does not match %s: %v", what, r.body, name, err)
		}
	}
	check("put reaction", "Item", e.do("PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`), 200)
	check("delete reaction", "Item", e.do("DELETE", "/v1/items/a/reactions/u1", ""), 200)
	check("add", "Item", e.do("POST", "/v1/items/a/counters/claps", `{"by":3}`, HeaderIdempotencyKey, "k"), 200)
	check("get item", "Item", e.do("GET", "/v1/items/a?user=u1", ""), 200)
	check("get items", "ItemList", e.do("GET", "/v1/items?ids=a,b&user=u1", ""), 200)
	check("ops", "OpsResult", e.do("POST", "/v1/ops",
		`{"ops":[{"op":"add","item":"a","counter":"views","by":1},{"op":"react","item":"a","user":"u2","reaction":null}]}`), 200)
	check("mesh", "MeshInfo", e.do("GET", "/v1/mesh", ""), 200)
	check("healthz", "Status", e.do("GET", "/healthz", ""), 200)
	check("readyz", "Status", e.do("GET", "/readyz", ""), 200)
	check("bad request", "Problem", e.do("PUT", "/v1/items/a/reactions/u1", `{"reaction":"love"}`), 400)
	e.token = "wrong"
	check("unauthorized", "Problem", e.do("GET", "/v1/items/a", ""), 401)

	served := e.do("GET", "/openapi.json", "")
	if served.code != http.StatusOK || !bytes.Equal(served.body, OpenAPI()) {
		t.Errorf("GET /openapi.json: %d, %d bytes; want 200 and the document", served.code, len(served.body))
	}
}

// Every schema the document defines compiles, and every request body it
// describes accepts what the README shows.
func TestOpenAPIRequestSchemas(t *testing.T) {
	schema := schemas(t)
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(doc.Components.Schemas)) {
		schema(name)
	}
	for _, c := range []struct {
		name, body string
		ok         bool
	}{
		{"ReactionBody", `{"reaction":"like"}`, true},
		{"ReactionBody", `{"reaction":"like","extra":1}`, false},
		{"CounterBody", `{"by":3}`, true},
		{"CounterBody", `{"by":0}`, false},
		{"OpsRequest", `{"ops":[{"op":"add","item":"a","counter":"views","by":1,"idempotency_key":"k"},{"op":"react","item":"a","user":"u1","reaction":"dislike"}]}`, true},
		{"OpsRequest", `{"ops":[{"op":"jump","item":"a"}]}`, false},
	} {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema(c.name).Validate(v); (err == nil) != c.ok {
			t.Errorf("%s %s: valid = %v, want %v (%v)", c.name, c.body, err == nil, c.ok, err)
		}
	}
}
