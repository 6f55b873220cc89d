package exchange

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"authserver/storage"
)

// The rights algebra.
//
// Names are dotted (OR.Jobs.Read) and Covers makes them a forest: the names a
// name covers are itself and everything below it. A list of names stands for
// the set of every name some element covers; a reduced list (sorted, no
// duplicates, no element covering another) is the unique canonical form of
// that set. Meet is the intersection of two such sets, in canonical form.
// Every function here works on any strings: no name is special, the empty
// string included (it covers only itself and names starting with ".").

// Errors of Effective and Explain. All of them map to invalid_scope at the
// token endpoint. Scope names are not secrets, so the wrapped errors name the
// offending requested scope.
var (
	// ErrScopeNotCovered: a requested scope is not covered by any of the
	// PAT's scopes; the caller asked for more than the PAT allows.
	ErrScopeNotCovered = errors.New("requested scope not covered by the personal access token")
	// ErrScopeNotInAudience: a requested scope shares nothing with the
	// audience's scopes (neither covers nor is covered by any of them), so
	// the audience could never honour it.
	ErrScopeNotInAudience = errors.New("requested scope not understood by the audience")
	// ErrNoRights: the exchange would grant nothing, neither organization-wide
	// nor in any folder.
	ErrNoRights = errors.New("no rights to grant")
)

// Covers reports whether right a includes right b: a == b, or b lies below a
// ("OR.Jobs" covers "OR.Jobs.Read" but not "OR.JobsX").
func Covers(a, b string) bool {
	if len(b) == len(a) {
		return a == b
	}
	return len(b) > len(a) && b[len(a)] == '.' && b[:len(a)] == a
}

// FolderCovers reports whether a role assigned at folder ancestor applies in
// folder: ancestor == folder, or folder lies below it ("Finance" is an
// ancestor of "Finance/Invoices", not of "FinanceX"). The empty ancestor is
// organization-wide and covers every folder. Paths are compared as given:
// the API that stores them must reject leading, trailing or doubled "/".
func FolderCovers(ancestor, folder string) bool {
	if ancestor == "" || ancestor == folder {
		return true
	}
	return len(folder) > len(ancestor) && folder[len(ancestor)] == '/' && folder[:len(ancestor)] == ancestor
}

// Reduce returns the canonical form of a: sorted, without duplicates, and
// without any element that another element covers. It never modifies a and
// returns nil when a is empty.
func Reduce(a []string) []string {
	return reduceInPlace(slices.Clone(a))
}

// Meet is the rights that both a and b grant: every element of a covered by
// some element of b, plus every element of b covered by some element of a,
// reduced (see [Reduce]). Meet({OR.Jobs}, {OR.Jobs.Read, OR.Folders}) is
// {OR.Jobs.Read}. It is commutative, associative and idempotent, never
// modifies its arguments, and returns nil when the result is empty.
func Meet(a, b []string) []string {
	if len(a) == 0 || len(b) == 0 {
		return nil
	}
	var out []string // allocated once, on the first element kept
	for _, side := range [2][2][]string{{a, b}, {b, a}} {
		for _, x := range side[0] {
			if coveredByAny(x, side[1]) {
				if out == nil {
					out = make([]string, 0, len(a)+len(b))
				}
				out = append(out, x)
			}
		}
	}
	return reduceInPlace(out)
}

// reduceInPlace sorts a, removes duplicates and covered elements, and returns
// the shortened slice (nil when empty).
//
// Whatever covers y is y itself or one of its dotted prefixes y[:i] with
// y[i] == '.', and those sort before y. So each y is checked by looking up
// its proper dotted prefixes among the elements kept so far (binary search):
// if any element covers y, the topmost such element has nothing above it and
// was kept.
func reduceInPlace(a []string) []string {
	slices.Sort(a)
	a = slices.Compact(a)
	kept := a[:0]
	for _, y := range a {
		if !hasAncestorIn(y, kept) {
			kept = append(kept, y)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	clear(a[len(kept):]) // let dropped strings be collected
	return kept[:len(kept):len(kept)]
}

// hasAncestorIn reports whether sorted contains a proper ancestor of y.
func hasAncestorIn(y string, sorted []string) bool {
	for i := 0; i < len(y); i++ {
		if y[i] == '.' {
			if _, ok := slices.BinarySearch(sorted, y[:i]); ok {
				return true
			}
		}
	}
	return false
}

// coveredByAny reports whether some element of set covers x.
func coveredByAny(x string, set []string) bool {
	for _, s := range set {
		if Covers(s, x) {
			return true
		}
	}
	return false
}

// overlapsAny reports whether Meet({x}, set) is not empty: some element of
// set covers x or is covered by it.
func overlapsAny(x string, set []string) bool {
	for _, s := range set {
		if Covers(s, x) || Covers(x, s) {
			return true
		}
	}
	return false
}

// Rights is what an exchange grants.
type Rights struct {
	// Scope is the organization-wide rights, reduced: they hold in every
	// folder. It becomes the JWT's space-separated scope claim.
	Scope []string
	// Folders lists, sorted by folder, each folder with role assignments
	// whose rights go beyond Scope. See AuthorizationDetails.
	Folders []FolderRights
}

// FolderRights is every right effective in one folder, organization-wide
// ones included (reduced, so an organization-wide right may appear only
// through a broader right that covers it).
type FolderRights struct {
	Folder  string
	Actions []string
}

// AuthorizationDetailTypeFolder is the RFC 9396 type of the folder entries.
const AuthorizationDetailTypeFolder = "folder"

// AuthorizationDetail is one RFC 9396 authorization_details object.
type AuthorizationDetail struct {
	Type       string   `json:"type"`
	Identifier string   `json:"identifier"`
	Actions    []string `json:"actions"`
	Locations  []string `json:"locations"`
}

// Empty reports whether the rights grant nothing anywhere.
func (r *Rights) Empty() bool {
	return len(r.Scope) == 0 && len(r.Folders) == 0
}

// AuthorizationDetails is the JWT's authorization_details claim: one
// {"type": "folder", "identifier": folder, "actions": [...], "locations":
// [audienceID]} per entry of Folders, or nil when there is none. The Actions
// slices are shared with r.
//
// How a resource server reads it: the rights in folder x are the actions of
// the entry for the deepest listed folder that is x or an ancestor of x, and
// the scope claim when no entry matches. This is exact because a folder's
// rights include those of its ancestors, so a deeper entry is never poorer
// than a shallower one.
func (r *Rights) AuthorizationDetails(audienceID string) []AuthorizationDetail {
	if len(r.Folders) == 0 {
		return nil
	}
	out := make([]AuthorizationDetail, len(r.Folders))
	for i, f := range r.Folders {
		out[i] = AuthorizationDetail{
			Type:       AuthorizationDetailTypeFolder,
			Identifier: f.Folder,
			Actions:    f.Actions,
			Locations:  []string{audienceID},
		}
	}
	return out
}

// Effective computes the rights of an exchange from the PAT's
// scopes, the audience's scopes, the requested scopes and the owner's
// current role assignments:
//
//	base      = Meet(patScopes, audienceScopes), then Meet(base, requested)
//	org       = Meet(base, permissions of organization-wide grants)
//	folder[f] = Meet(base, permissions of organization-wide grants and of
//	            grants at f or an ancestor of f), for each folder f that has
//	            grants
//
// Rights.Scope is org; Rights.Folders holds the folders whose rights differ
// from org (they can only be larger).
//
// requested nil or empty means no scope was requested (an empty scope
// parameter counts as absent). Otherwise every requested scope must be
// covered by some PAT scope, else ErrScopeNotCovered, and must share
// something with the audience's scopes, else ErrScopeNotInAudience (checked
// in that order, first offending scope in request order). Rights the PAT
// and audience allow but no role grants are dropped silently. When nothing
// at all is granted, the error is ErrNoRights.
func Effective(patScopes, audienceScopes, requested []string, grants []storage.Grant) (*Rights, error) {
	r, err := effective(patScopes, audienceScopes, requested, grants)
	if err != nil {
		return nil, err
	}
	if r.Empty() {
		return nil, ErrNoRights
	}
	return r, nil
}

// effective is the one computation behind Effective and Explain.
func effective(patScopes, audienceScopes, requested []string, grants []storage.Grant) (*Rights, error) {
	for _, s := range requested {
		if !coveredByAny(s, patScopes) {
			return nil, fmt.Errorf("scope %q: %w", s, ErrScopeNotCovered)
		}
		if !overlapsAny(s, audienceScopes) {
			return nil, fmt.Errorf("scope %q: %w", s, ErrScopeNotInAudience)
		}
	}
	r := &Rights{}
	base := Meet(patScopes, audienceScopes)
	if len(requested) > 0 {
		base = Meet(base, requested)
	}
	if len(base) == 0 {
		return r, nil
	}

	// Meet distributes over union, so folder[f] is org plus the meet of
	// base with each grant at f or above it. Those meets are computed once
	// per grant rather than once per folder and grant.
	type contribution struct {
		folder string
		rights []string
	}
	var orgPerms, folders []string
	var contributions []contribution
	for _, g := range grants {
		if g.Folder == "" {
			orgPerms = append(orgPerms, g.Permissions...)
			continue
		}
		folders = append(folders, g.Folder)
		if m := Meet(base, g.Permissions); m != nil {
			contributions = append(contributions, contribution{g.Folder, m})
		}
	}
	r.Scope = Meet(base, orgPerms)

	slices.Sort(folders)
	var buf []string
	for _, f := range slices.Compact(folders) {
		buf = append(buf[:0], r.Scope...)
		for _, c := range contributions {
			if FolderCovers(c.folder, f) {
				buf = append(buf, c.rights...)
			}
		}
		if len(buf) == len(r.Scope) {
			continue // nothing beyond org
		}
		if actions := reduceInPlace(buf); !slices.Equal(actions, r.Scope) {
			r.Folders = append(r.Folders, FolderRights{Folder: f, Actions: actions})
			buf = nil // actions keeps the array
		}
	}
	return r, nil
}

// DropReason says why a dry run drops a scope; the values are those of the
// dry-run JSON.
type DropReason string

// The reasons a scope is dropped, in the order they are decided.
const (
	// DropNotInAudience: the PAT scope shares nothing with the audience's
	// scopes.
	DropNotInAudience DropReason = "not in audience"
	// DropNotRequested: the part of a PAT scope that the audience
	// understands shares nothing with the requested scopes.
	DropNotRequested DropReason = "not requested"
	// DropNoRole: the part is in the audience and requested, but no role
	// grants anything at or below it, neither organization-wide nor in any
	// folder.
	DropNoRole DropReason = "no role grants it"
)

// Dropped is one entry of a dry run's "dropped" list.
type Dropped struct {
	Scope  string     `json:"scope"`
	Reason DropReason `json:"reason"`
}

// Explanation is a dry run: the rights an exchange would grant and what it
// would drop.
type Explanation struct {
	Rights
	// Dropped is sorted by scope; nil when nothing is dropped.
	Dropped []Dropped
}

// Explain is the dry run of [Effective]: the same rights, by the
// same computation, plus what would be dropped and why. Unlike Effective it
// does not fail with ErrNoRights: an explanation that grants nothing
// (Rights.Empty) says why instead. The requested-scope errors are those of
// Effective.
//
// Each distinct PAT scope s is followed through the stages of the exchange,
// and a name is dropped at the first stage where it contributes nothing:
//
//   - s shares nothing with the audience: {s, "not in audience"}.
//   - Otherwise s is narrowed to its parts the audience understands,
//     Meet({s}, audienceScopes). When a scope was requested, a part p that
//     shares nothing with the request is {p, "not requested"}, and the
//     others are narrowed again to Meet({p}, requested).
//   - A remaining part q of which nothing at or below is granted, neither
//     organization-wide nor in any folder, is {q, "no role grants it"}.
//
// A part that is only partly granted is not listed: the granted rights show
// how far it was narrowed. Neither are the parts of a scope lying outside
// the audience when another part of it is inside: the audience understands
// nothing there. Entries are unique and sorted by scope.
func Explain(patScopes, audienceScopes, requested []string, grants []storage.Grant) (*Explanation, error) {
	r, err := effective(patScopes, audienceScopes, requested, grants)
	if err != nil {
		return nil, err
	}
	granted := slices.Clone(r.Scope)
	for _, f := range r.Folders {
		granted = append(granted, f.Actions...)
	}

	e := &Explanation{Rights: *r}
	drop := func(scope string, reason DropReason) {
		e.Dropped = append(e.Dropped, Dropped{Scope: scope, Reason: reason})
	}
	checkGranted := func(q string) {
		if !overlapsAny(q, granted) {
			drop(q, DropNoRole)
		}
	}
	pat := slices.Clone(patScopes)
	slices.Sort(pat)
	for _, s := range slices.Compact(pat) {
		parts := Meet([]string{s}, audienceScopes)
		if len(parts) == 0 {
			drop(s, DropNotInAudience)
			continue
		}
		for _, p := range parts {
			if len(requested) == 0 {
				checkGranted(p)
				continue
			}
			narrowed := Meet([]string{p}, requested)
			if len(narrowed) == 0 {
				drop(p, DropNotRequested)
				continue
			}
			for _, q := range narrowed {
				checkGranted(q)
			}
		}
	}
	slices.SortFunc(e.Dropped, func(a, b Dropped) int {
		if c := strings.Compare(a.Scope, b.Scope); c != 0 {
			return c
		}
		return strings.Compare(string(a.Reason), string(b.Reason))
	})
	e.Dropped = slices.Compact(e.Dropped)
	return e, nil
}
