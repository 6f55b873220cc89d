package api

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"authserver/governance"
	"authserver/internal/names"
)

// maxAPIBody bounds every API request body.
const maxAPIBody = 64 << 10

// requestJSON is how every request body is decoded. encoding/json matches
// member names without regard to case and keeps the last of a repeated
// member, so {"name":"a","NAME":"b"} named a PAT "b": a body could read one
// way to a reviewer, a proxy or a WAF and another way to the server. Here a
// name matches only exactly, a repeated member is refused (at any depth),
// and so is an unknown one.
var requestJSON = jsonv2.JoinOptions(
	jsonv2.MatchCaseInsensitiveNames(false),
	jsonv2.RejectUnknownMembers(true),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// decodeBody reads the request's JSON object into dst, strictly: the
// content type must be JSON, the body at most 64 KiB, one object with no
// unknown or repeated member (names match exactly) and nothing after it,
// every member of the right type.
// With optional, a request without a body leaves dst as it is.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any, optional bool) error {
	if optional && r.ContentLength == 0 {
		return nil
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		if optional && r.Header.Get("Content-Type") == "" {
			// A body-less POST sent with chunked encoding: accept it only
			// if it really is empty.
			if b, err := io.ReadAll(io.LimitReader(r.Body, 1)); err == nil && len(b) == 0 {
				return nil
			}
		}
		return newProblem(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "the request body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newProblem(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "the request body is larger than 64 KiB")
		}
		return newProblem(http.StatusBadRequest, codeMalformedJSON, "the request body could not be read")
	}
	if !utf8.Valid(body) {
		// encoding/json would quietly turn invalid bytes into U+FFFD: a
		// name would not be stored as it was sent.
		return newProblem(http.StatusBadRequest, codeMalformedJSON, "the request body is not valid UTF-8")
	}
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0 && optional:
		return nil
	case len(body) == 0:
		return newProblem(http.StatusBadRequest, codeBodyRequired, "the request needs a JSON object body")
	case body[0] != '{':
		// A repeated member inside is not the problem to report here.
		if jsontext.Value(body).IsValid(jsontext.AllowDuplicateNames(true)) {
			return newProblem(http.StatusBadRequest, codeWrongType, "the request body must be a JSON object")
		}
		return newProblem(http.StatusBadRequest, codeMalformedJSON, "the request body is not valid JSON")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body), requestJSON)
	if err := jsonv2.UnmarshalDecode(dec, dst, requestJSON); err != nil {
		return jsonProblem(err, reflect.TypeOf(dst))
	}
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		return newProblem(http.StatusBadRequest, codeTrailingData, "the request body holds data after the JSON object")
	}
	return nil
}

// isJSON reports whether a Content-Type is JSON in UTF-8.
func isJSON(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

// jsonProblem explains a decoding error of a body decoded into a value of
// type t without echoing the input: it names only members t defines.
func jsonProblem(err error, t reflect.Type) *problem {
	var syn *jsontext.SyntacticError
	var sem *jsonv2.SemanticError
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &syn):
		if name := definedMember(t, syn.JSONPointer); name != "" {
			return fieldProblem(codeDuplicateMember, name, "must not be repeated")
		}
		return newProblem(http.StatusBadRequest, codeDuplicateMember, "the request body repeats a member")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return newProblem(http.StatusBadRequest, codeMalformedJSON, "the request body is truncated JSON")
	case errors.As(err, &syn):
		// ByteOffset is where the bad byte starts; counted from one, as
		// encoding/json did and the API always has.
		return newProblem(http.StatusBadRequest, codeMalformedJSON, "the request body is not valid JSON (at byte %d)", syn.ByteOffset+1)
	case errors.Is(err, jsonv2.ErrUnknownName):
		// The name is not one the request defines, so it is the client's
		// text, which may be a token pasted into the wrong place: it is
		// not quoted back.
		return newProblem(http.StatusBadRequest, codeUnknownField, "the request body has a member this request does not define")
	case errors.As(err, &sem):
		name := definedMember(t, sem.JSONPointer)
		switch {
		case sem.JSONPointer == "":
			return newProblem(http.StatusBadRequest, codeWrongType, "the request body must be a JSON object")
		case name == "":
			return newProblem(http.StatusBadRequest, codeWrongType, "a value in the request body is of the wrong type")
		}
		return fieldProblem(codeWrongType, name, "must be %s, not %s", jsonTypeName(sem.GoType), jsonKindName(sem.JSONKind))
	}
	return newProblem(http.StatusBadRequest, codeMalformedJSON, "the request body is not valid JSON")
}

// definedMember is the dotted name of the member at ptr if every member
// on the way is one that t defines (array indices are left out), and ""
// otherwise: a name the client made up is never quoted.
func definedMember(t reflect.Type, ptr jsontext.Pointer) string {
	var names []string
	for tok := range ptr.Tokens() {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t == nil:
			return ""
		case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
			if _, err := strconv.Atoi(tok); err != nil {
				return ""
			}
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			f, ok := memberField(t, tok)
			if !ok {
				return ""
			}
			names = append(names, tok)
			t = f.Type
		default:
			return ""
		}
	}
	return strings.Join(names, ".")
}

// memberField is the field of struct type t that the JSON member name
// decodes into, matched exactly as requestJSON matches.
func memberField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// jsonKindName names a JSON kind, for error details.
func jsonKindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	case '0':
		return "number"
	}
	return "another type"
}

// jsonTypeName names a Go type as the JSON type it decodes from.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "a value of another type"
	}
	if t == reflect.TypeFor[optionalTime]() {
		return "an RFC 3339 date-time string or null"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return jsonTypeName(t.Elem())
	}
	return "a value of another type"
}

// optionalTime is a JSON member that may be absent, null, or an RFC 3339
// date-time: "expires_at" distinguishes omitted (the default expiry) from
// null (explicitly none).
type optionalTime struct {
	set  bool // the member is present
	null bool // … and null
	t    time.Time
	bad  bool // … and a string that is not RFC 3339
}

// errNotDateTime refuses an expires_at that is not a string or null; the
// decoder reports it as a wrong-type problem, by the member's Go type.
var errNotDateTime = errors.New("not a date-time string or null")

func (o *optionalTime) UnmarshalJSON(b []byte) error {
	o.set = true
	if string(b) == "null" {
		o.null = true
		return nil
	}
	var s string
	if err := jsonv2.Unmarshal(b, &s); err != nil {
		return errNotDateTime
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		o.bad = true
		return nil
	}
	o.t = t
	return nil
}

// apply sets req's expiry from the member field.
func (o optionalTime) apply(field string, req *governance.PATRequest) error {
	switch {
	case !o.set:
	case o.null:
		req.NoExpiry = true
	case o.bad:
		return fieldProblem(codeInvalidField, field, "must be an RFC 3339 date-time such as 2030-01-31T12:00:00Z, or null for no expiry")
	default:
		t := o.t
		req.ExpiresAt = &t
	}
	return nil
}

// queryParams reads the query string: only the named parameters, each at
// most once, as plain text. Empty values count as absent.
func queryParams(r *http.Request, allowed ...string) (map[string]string, error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, newProblem(http.StatusBadRequest, codeInvalidParameter, "the query string is not valid URL encoding")
	}
	out := make(map[string]string, len(vals))
	for k, vs := range vals {
		if !slices.Contains(allowed, k) {
			// Only the route's own parameters are named: k is the
			// client's text, which may be a token pasted into the wrong
			// place.
			if len(allowed) == 0 {
				return nil, newProblem(http.StatusBadRequest, codeInvalidParameter, "the query string has a parameter; this route takes none")
			}
			return nil, newProblem(http.StatusBadRequest, codeInvalidParameter,
				"the query string has a parameter this route does not define; it takes %s", strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return nil, fieldProblem(codeInvalidParameter, k, "must not be repeated")
		}
		if !names.PlainText(vs[0]) {
			return nil, fieldProblem(codeInvalidParameter, k, "must be valid UTF-8 text without control characters")
		}
		if vs[0] != "" {
			out[k] = vs[0]
		}
	}
	return out, nil
}

// pageQuery reads limit and cursor.
func pageQuery(q map[string]string) (limit int, cursor string, err error) {
	if v, ok := q["limit"]; ok {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > governance.MaxPageSize {
			return 0, "", fieldProblem(codeInvalidParameter, "limit", "must be an integer between 1 and %d", governance.MaxPageSize)
		}
		limit = n
	}
	return limit, q["cursor"], nil
}

// timeQuery reads an optional RFC 3339 query parameter.
func timeQuery(q map[string]string, name string) (time.Time, error) {
	v, ok := q[name]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fieldProblem(codeInvalidParameter, name, "must be an RFC 3339 date-time such as 2030-01-31T12:00:00Z")
	}
	return t, nil
}

// list is the shape of every list answer; NextCursor is absent on the last
// page.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// stamp renders a time as RFC 3339 in UTC, with fractional seconds when
// there are any.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// stampPtr renders an optional time; nil stays null.
func stampPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := stamp(*t)
	return &s
}
