package httpapi

import (
	"errors"
	json "github.com/goccy/go-json"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// decodeBody decodes the request body, one JSON value, into v: at most
// MaxBodyBytes, no unknown fields, nothing after the value but white space.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) *Problem {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return s.jsonProblem(err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
		return nil
	case isTooLarge(err):
		return s.jsonProblem(err)
	default:
		return badRequest("malformed JSON: unexpected data after the JSON object; send exactly one value")
	}
}

func isTooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

// jsonProblem explains a decoding error precisely.
func (s *Server) jsonProblem(err error) *Problem {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case isTooLarge(err):
		return tooLarge("request body is larger than the %d bytes allowed", s.cfg.MaxBodyBytes)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return newProblem("request-timeout", http.StatusRequestTimeout, "Request timeout",
			"the request body was not received within %s", s.cfg.ReadTimeout)
	case err == io.EOF:
		return badRequest("request body is empty; want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: the body ends in the middle of a value")
	case errors.As(err, &syntax):
		return badRequest("malformed JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("the body is a JSON %s; want a JSON object", typ.Value)
		}
		return badRequest("field %q: want %s, got a JSON %s", typ.Field, jsonTypeName(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no type for this error; its text is stable.
		return badRequest("%s; see the API documentation for the fields of this request",
			strings.TrimPrefix(err.Error(), "json: "))
	}
	return badRequest("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonTypeName names a Go kind the way a JSON client thinks of it.
func jsonTypeName(kind string) string {
	switch kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer in range"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return kind
}

// closeUnreadBodies wraps h so that an HTTP/1.x request whose body h did not
// read to its end — a refusal before the body: 401, 429, a bad path — is
// answered at once and its connection closed. net/http would otherwise read up
// to 256 KiB of the unread body before answering, for as long as the read
// timeout lets a client that announced a body and never sends it hold the
// connection.
func closeUnreadBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		body := &eofBody{ReadCloser: r.Body}
		r2 := *r
		r2.Body = body
		h.ServeHTTP(w, &r2)
		if !body.eof {
			// Reading the rest fails at once; net/http then closes the connection.
			http.NewResponseController(w).SetReadDeadline(time.Now())
		}
	})
}

// eofBody is a request body that records whether it was read to its end.
type eofBody struct {
	io.ReadCloser
	eof bool
}

// Read reads the body, recording its end.
func (b *eofBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}
