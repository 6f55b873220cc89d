package exchange

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"authserver/storage"
)

func TestCovers(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"a right covers itself", "OR.Jobs", "OR.Jobs", true},
		{"OR.Jobs covers OR.Jobs.Read", "OR.Jobs", "OR.Jobs.Read", true},
		{"OR covers everything below it", "OR", "OR.Jobs.Read.Own", true},
		{"OR.Jobs does not cover OR.JobsX", "OR.Jobs", "OR.JobsX", false},
		{"OR.Jobs does not cover OR.Jobs-Read", "OR.Jobs", "OR.Jobs-Read", false},
		{"OR.Jobs.Read does not cover OR.Jobs", "OR.Jobs.Read", "OR.Jobs", false},
		{"siblings do not cover each other", "OR.Jobs", "OR.Folders", false},
		{"OR does not cover ORX.Jobs", "OR", "ORX.Jobs", false},
		{"comparison is case-sensitive", "OR.Jobs", "OR.jobs.Read", false},
		{"a name does not cover its own prefix without the dot", "OR.Job", "OR.Jobs", false},
		{"the empty name covers only names starting with a dot", "", "OR", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Covers(tt.a, tt.b); got != tt.want {
				t.Errorf("Covers(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestFolderCovers(t *testing.T) {
	tests := []struct {
		name             string
		ancestor, folder string
		want             bool
	}{
		{"role at Finance applies in Finance", "Finance", "Finance", true},
		{"role at Finance applies in Finance/Invoices", "Finance", "Finance/Invoices", true},
		{"role at Finance applies in Finance/Invoices/2024", "Finance", "Finance/Invoices/2024", true},
		{"role at Finance does not apply in FinanceX", "Finance", "FinanceX", false},
		{"role at Finance does not apply in FinanceX/Invoices", "Finance", "FinanceX/Invoices", false},
		{"role at Finance/Invoices does not apply in Finance", "Finance/Invoices", "Finance", false},
		{"role at Finance/Invoices does not apply in a sibling", "Finance/Invoices", "Finance/Payroll", false},
		{"organization-wide role applies in every folder", "", "Finance/Invoices", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FolderCovers(tt.ancestor, tt.folder); got != tt.want {
				t.Errorf("FolderCovers(%q, %q) = %v, want %v", tt.ancestor, tt.folder, got, tt.want)
			}
		})
	}
}

func TestMeet(t *testing.T) {
	tests := []struct {
		name    string
		a, b    []string
		want    []string
		comment string
	}{
		{"the documented example", []string{"OR.Jobs"}, []string{"OR.Jobs.Read", "OR.Folders"}, []string{"OR.Jobs.Read"}, ""},
		{"equal sets meet in themselves", []string{"A", "B"}, []string{"B", "A"}, []string{"A", "B"}, ""},
		{"the narrower right wins", []string{"OR"}, []string{"OR.Jobs.Read"}, []string{"OR.Jobs.Read"}, ""},
		{"OR.Jobs and OR.JobsX share nothing", []string{"OR.Jobs"}, []string{"OR.JobsX"}, nil, ""},
		{"disjoint sets meet in nothing", []string{"A"}, []string{"B"}, nil, ""},
		{"empty side gives nothing", nil, []string{"A"}, nil, ""},
		{"each side can contribute", []string{"A", "B.C"}, []string{"A.X", "B"}, []string{"A.X", "B.C"}, ""},
		{"result is reduced", []string{"A", "A.B"}, []string{"A.B", "A.B.C"}, []string{"A.B"}, "A.B and A.B.C from both sides reduce to A.B"},
		{"duplicates collapse", []string{"A", "A"}, []string{"A", "A"}, []string{"A"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Meet(tt.a, tt.b); !slices.Equal(got, tt.want) {
				t.Errorf("Meet(%q, %q) = %q, want %q %s", tt.a, tt.b, got, tt.want, tt.comment)
			}
		})
	}
}

func TestReduce(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"sorted and deduplicated", []string{"B", "A", "B"}, []string{"A", "B"}},
		{"a covered element is removed", []string{"A.B", "A"}, []string{"A"}},
		{"a covered element is removed across names sorting in between", []string{"A.B", "A-", "A"}, []string{"A", "A-"}},
		{"a deep element under a removed one is removed", []string{"A.B.C", "A.B", "A"}, []string{"A"}},
		{"OR.JobsX is not covered by OR.Jobs", []string{"OR.Jobs", "OR.JobsX"}, []string{"OR.Jobs", "OR.JobsX"}},
		{"empty input gives nil", []string{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			if got := Reduce(in); !slices.Equal(got, tt.want) {
				t.Errorf("Reduce(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("Reduce modified its argument: %q, was %q", in, tt.in)
			}
		})
	}
}

// --- Property tests -------------------------------------------------------

// propNames is a small alphabet so that random sets collide often. It holds
// names that sort between a name and its children ("A-" sorts between "A"
// and "A.B"), look-alikes ("AB"), and odd but legal strings ("", "A.",
// "A..B") on which the algebra must hold all the same.
var propNames = []string{
	"A", "A.B", "A.B.C", "A.B.C.D", "A.C", "B", "B.A", "AB", "A-", "A-.B", "A.", "A..B", "",
}

func randomNames(rng *rand.Rand, names []string, max int) []string {
	n := rng.IntN(max + 1)
	out := make([]string, n)
	for i := range out {
		out[i] = names[rng.IntN(len(names))]
	}
	return out
}

// inSet is the meaning of a list of rights: does it grant x?
func inSet(x string, set []string) bool { return coveredByAny(x, set) }

// probeNames are the names on which set semantics are compared: the inputs,
// every dotted prefix of them, and a name below each.
func probeNames(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			out = append(out, s, s+".Z", s+"Z")
			for i := 0; i < len(s); i++ {
				if s[i] == '.' {
					out = append(out, s[:i])
				}
			}
		}
	}
	return out
}

// checkReduced fails unless s is sorted, unique and no element covers another.
func checkReduced(t *testing.T, what string, s []string) {
	t.Helper()
	if s != nil && len(s) == 0 {
		t.Errorf("%s is empty but not nil", what)
	}
	for i := range s {
		if i > 0 && s[i-1] >= s[i] {
			t.Errorf("%s = %q is not strictly sorted", what, s)
		}
		for j := range s {
			if i != j && Covers(s[i], s[j]) {
				t.Errorf("%s = %q is not reduced: %q covers %q", what, s, s[i], s[j])
			}
		}
	}
}

// checkMeetLaws checks every law of Meet on one triple of inputs.
func checkMeetLaws(t *testing.T, a, b, c []string) {
	t.Helper()
	a0, b0, c0 := slices.Clone(a), slices.Clone(b), slices.Clone(c)
	ab := Meet(a, b)
	if !slices.Equal(a, a0) || !slices.Equal(b, b0) {
		t.Fatalf("Meet modified its arguments")
	}
	checkReduced(t, fmt.Sprintf("Meet(%q, %q)", a, b), ab)
	if ba := Meet(b, a); !slices.Equal(ab, ba) {
		t.Errorf("not commutative: Meet(%q, %q) = %q but Meet(%q, %q) = %q", a, b, ab, b, a, ba)
	}
	if left, right := Meet(ab, c), Meet(a, Meet(b, c)); !slices.Equal(left, right) {
		t.Errorf("not associative on %q, %q, %q: (ab)c = %q, a(bc) = %q", a, b, c, left, right)
	}
	if aa, ra := Meet(a, a), Reduce(a); !slices.Equal(aa, ra) {
		t.Errorf("Meet(A, A) = %q, want Reduce(A) = %q", aa, ra)
	}
	if again := Meet(ab, b); !slices.Equal(again, ab) {
		t.Errorf("not idempotent: Meet(Meet(A, B), B) = %q, want %q", again, ab)
	}
	for _, x := range ab {
		if !coveredByAny(x, a) || !coveredByAny(x, b) {
			t.Errorf("Meet(%q, %q) yields %q, which one side does not cover", a, b, x)
		}
	}
	ra := Reduce(a)
	checkReduced(t, fmt.Sprintf("Reduce(%q)", a), ra)
	for _, x := range probeNames(a, b, c) {
		if got, want := inSet(x, ab), inSet(x, a) && inSet(x, b); got != want {
			t.Errorf("Meet(%q, %q) grants %q: %v, want %v (granted by both sides)", a, b, x, got, want)
		}
		if inSet(x, ra) != inSet(x, a) {
			t.Errorf("Reduce(%q) = %q changes whether %q is granted", a, ra, x)
		}
	}
	if !slices.Equal(c, c0) {
		t.Fatalf("Meet modified its arguments")
	}
}

func TestMeetProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240601, 1))
	for range 5000 {
		a := randomNames(rng, propNames, 6)
		b := randomNames(rng, propNames, 6)
		c := randomNames(rng, propNames, 6)
		checkMeetLaws(t, a, b, c)
		if t.Failed() {
			return
		}
	}
}

func FuzzMeet(f *testing.F) {
	f.Add("OR.Jobs", "OR.Jobs.Read,OR.Folders", "OR")
	f.Add("A,A.B", "A.B,A.B.C", "A.B.C.D")
	f.Add("A,A-,A.B", "A-.B,A.B", "")
	f.Add("A.,A..B", "A..B.C,", ",")
	f.Add("OR.Jobs", "OR.JobsX", "OR.Jobs.X")
	f.Add("B.A,AB", "B,A", "A.C,B.A.Z")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		checkMeetLaws(t, split(a), split(b), split(c))
	})
}

// --- Effective ------------------------------------------------------------

func grant(folder string, perms ...string) storage.Grant {
	return storage.Grant{Folder: folder, Permissions: perms}
}

func TestEffective(t *testing.T) {
	orchestrator := []string{"OR.Jobs", "OR.Folders", "OR.Assets"}
	tests := []struct {
		name      string
		pat, aud  []string
		requested []string
		grants    []storage.Grant
		want      *Rights
		wantErr   error
	}{
		{
			name: "the documented example: rights are the meet of PAT, audience and roles",
			pat:  []string{"OR.Jobs"}, aud: []string{"OR.Jobs.Read", "OR.Folders"},
			grants: []storage.Grant{grant("", "OR")},
			want:   &Rights{Scope: []string{"OR.Jobs.Read"}},
		},
		{
			name: "a role narrower than the PAT narrows the rights",
			pat:  []string{"OR.Jobs"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR.Jobs.Read")},
			want:   &Rights{Scope: []string{"OR.Jobs.Read"}},
		},
		{
			name: "scopes the roles do not grant are dropped silently",
			pat:  []string{"OR.Jobs", "OR.Assets"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR.Jobs")},
			want:   &Rights{Scope: []string{"OR.Jobs"}},
		},
		{
			name: "a role right the PAT lacks is not granted",
			pat:  []string{"OR.Jobs.Read"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR.Jobs", "OR.Assets")},
			want:   &Rights{Scope: []string{"OR.Jobs.Read"}},
		},
		{
			name: "a role right the audience does not know is not granted",
			pat:  []string{"OR", "DU"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR.Jobs", "DU")},
			want:   &Rights{Scope: []string{"OR.Jobs"}},
		},
		{
			name: "a requested scope narrows the rights",
			pat:  []string{"OR.Jobs", "OR.Assets"}, aud: orchestrator, requested: []string{"OR.Jobs.Read"},
			grants: []storage.Grant{grant("", "OR")},
			want:   &Rights{Scope: []string{"OR.Jobs.Read"}},
		},
		{
			name: "an empty requested list counts as not given",
			pat:  []string{"OR.Jobs", "OR.Assets"}, aud: orchestrator, requested: []string{},
			grants: []storage.Grant{grant("", "OR")},
			want:   &Rights{Scope: []string{"OR.Assets", "OR.Jobs"}},
		},
		{
			name: "a requested scope the PAT does not cover fails",
			pat:  []string{"OR.Jobs"}, aud: orchestrator, requested: []string{"OR.Assets"},
			grants:  []storage.Grant{grant("", "OR")},
			wantErr: ErrScopeNotCovered,
		},
		{
			name: "a requested scope broader than the PAT fails",
			pat:  []string{"OR.Jobs.Read"}, aud: orchestrator, requested: []string{"OR.Jobs"},
			grants:  []storage.Grant{grant("", "OR")},
			wantErr: ErrScopeNotCovered,
		},
		{
			name: "a requested scope the PAT covers but the audience does not know fails",
			pat:  []string{"OR", "Identity.PATs"}, aud: orchestrator, requested: []string{"Identity.PATs"},
			grants:  []storage.Grant{grant("", "OR", "Identity.PATs")},
			wantErr: ErrScopeNotInAudience,
		},
		{
			name: "a requested scope the roles do not grant is dropped silently",
			pat:  []string{"OR"}, aud: orchestrator, requested: []string{"OR.Jobs", "OR.Assets"},
			grants: []storage.Grant{grant("", "OR.Jobs")},
			want:   &Rights{Scope: []string{"OR.Jobs"}},
		},
		{
			name: "no role at all grants nothing",
			pat:  []string{"OR.Jobs"}, aud: orchestrator,
			wantErr: ErrNoRights,
		},
		{
			name: "PAT scopes outside the audience grant nothing",
			pat:  []string{"DU.Documents"}, aud: orchestrator,
			grants:  []storage.Grant{grant("", "DU", "OR")},
			wantErr: ErrNoRights,
		},
		{
			name: "folder rights beyond org appear in authorization_details",
			pat:  []string{"OR.Jobs", "OR.Assets"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR.Jobs.Read"), grant("Finance", "OR.Assets")},
			want: &Rights{
				Scope:   []string{"OR.Jobs.Read"},
				Folders: []FolderRights{{Folder: "Finance", Actions: []string{"OR.Assets", "OR.Jobs.Read"}}},
			},
		},
		{
			name: "folder actions include org-wide rights through a broader right",
			pat:  []string{"OR.Jobs"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR.Jobs.Read"), grant("Finance", "OR.Jobs")},
			want: &Rights{
				Scope:   []string{"OR.Jobs.Read"},
				Folders: []FolderRights{{Folder: "Finance", Actions: []string{"OR.Jobs"}}},
			},
		},
		{
			name: "folder rights already held org-wide are not listed",
			pat:  []string{"OR.Jobs"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR.Jobs"), grant("Finance", "OR.Jobs.Read")},
			want:   &Rights{Scope: []string{"OR.Jobs"}},
		},
		{
			name: "folder rights the PAT lacks are not listed",
			pat:  []string{"OR.Jobs"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR.Jobs"), grant("Finance", "OR.Assets")},
			want:   &Rights{Scope: []string{"OR.Jobs"}},
		},
		{
			name: "rights only in a folder succeed with an empty scope",
			pat:  []string{"OR.Jobs"}, aud: orchestrator,
			grants: []storage.Grant{grant("Finance", "OR.Jobs.Read")},
			want:   &Rights{Folders: []FolderRights{{Folder: "Finance", Actions: []string{"OR.Jobs.Read"}}}},
		},
		{
			name: "role at Finance applies in Finance/Invoices",
			pat:  []string{"OR"}, aud: orchestrator,
			grants: []storage.Grant{grant("Finance", "OR.Jobs"), grant("Finance/Invoices", "OR.Assets")},
			want: &Rights{Folders: []FolderRights{
				{Folder: "Finance", Actions: []string{"OR.Jobs"}},
				{Folder: "Finance/Invoices", Actions: []string{"OR.Assets", "OR.Jobs"}},
			}},
		},
		{
			name: "role at Finance does not apply in FinanceX",
			pat:  []string{"OR"}, aud: orchestrator,
			grants: []storage.Grant{grant("Finance", "OR.Jobs"), grant("FinanceX", "OR.Assets")},
			want: &Rights{Folders: []FolderRights{
				{Folder: "Finance", Actions: []string{"OR.Jobs"}},
				{Folder: "FinanceX", Actions: []string{"OR.Assets"}},
			}},
		},
		{
			name: "role at Finance/Invoices does not apply in Finance",
			pat:  []string{"OR"}, aud: orchestrator,
			grants: []storage.Grant{grant("Finance/Invoices", "OR.Assets")},
			want:   &Rights{Folders: []FolderRights{{Folder: "Finance/Invoices", Actions: []string{"OR.Assets"}}}},
		},
		{
			name: "a subfolder adding nothing beyond org is not listed",
			pat:  []string{"OR.Jobs"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR.Jobs"), grant("Finance", "OR.Assets"), grant("Finance/Invoices", "OR.Folders")},
			want:   &Rights{Scope: []string{"OR.Jobs"}},
		},
		{
			name: "several roles in one folder add up",
			pat:  []string{"OR"}, aud: orchestrator,
			grants: []storage.Grant{grant("Finance", "OR.Jobs"), grant("Finance", "OR.Assets.Read")},
			want:   &Rights{Folders: []FolderRights{{Folder: "Finance", Actions: []string{"OR.Assets.Read", "OR.Jobs"}}}},
		},
		{
			name: "duplicate scopes and grants change nothing",
			pat:  []string{"OR.Jobs", "OR.Jobs", "OR.Jobs.Read"}, aud: append(orchestrator, "OR.Jobs"),
			grants: []storage.Grant{grant("", "OR.Jobs", "OR.Jobs"), grant("", "OR.Jobs")},
			want:   &Rights{Scope: []string{"OR.Jobs"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Effective(tt.pat, tt.aud, tt.requested, tt.grants)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Effective error = %v, want %v", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("Effective = %+v with an error, want nil", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Effective error = %v, want nil", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Effective =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestRemovingTheRoleRemovesTheRight(t *testing.T) {
	pat, aud := []string{"OR.Jobs", "OR.Assets"}, []string{"OR"}
	grants := []storage.Grant{grant("", "OR.Jobs"), grant("Finance", "OR.Assets")}
	before, err := Effective(pat, aud, nil, grants)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Folders) != 1 {
		t.Fatalf("before: Folders = %+v, want Finance", before.Folders)
	}

	after, err := Effective(pat, aud, nil, grants[:1])
	if err != nil {
		t.Fatal(err)
	}
	if after.Folders != nil {
		t.Errorf("after removing the Finance role: Folders = %+v, want none", after.Folders)
	}

	if _, err := Effective(pat, aud, nil, nil); !errors.Is(err, ErrNoRights) {
		t.Errorf("after removing every role: err = %v, want ErrNoRights", err)
	}
}

func TestScopeErrorsNameTheScope(t *testing.T) {
	_, err := Effective([]string{"OR.Jobs"}, []string{"OR"}, []string{"OR.Jobs", "OR.Assets"}, nil)
	if !errors.Is(err, ErrScopeNotCovered) || !strings.Contains(err.Error(), `"OR.Assets"`) {
		t.Errorf("err = %v, want ErrScopeNotCovered naming OR.Assets", err)
	}
}

func TestAuthorizationDetailsJSON(t *testing.T) {
	r, err := Effective([]string{"OR"}, []string{"OR"}, nil, []storage.Grant{
		grant("", "OR.Jobs.Read"),
		grant("Finance/Invoices", "OR.Assets"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(r.AuthorizationDetails("orchestrator"))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"type":"folder","identifier":"Finance/Invoices","actions":["OR.Assets","OR.Jobs.Read"],"locations":["orchestrator"]}]`
	if string(got) != want {
		t.Errorf("authorization_details = %s\nwant %s", got, want)
	}
	if d := (&Rights{Scope: []string{"A"}}).AuthorizationDetails("x"); d != nil {
		t.Errorf("AuthorizationDetails without folders = %+v, want nil (claim omitted)", d)
	}
}

// rightsAt is how a resource server reads Rights in a folder (see
// AuthorizationDetails): the deepest listed ancestor-or-self entry, or the
// scope.
func rightsAt(r *Rights, folder string) []string {
	best, at := -1, r.Scope
	for _, f := range r.Folders {
		if FolderCovers(f.Folder, folder) && len(f.Folder) > best {
			best, at = len(f.Folder), f.Actions
		}
	}
	return at
}

// referenceGranted is the rights algebra read literally, one right and one folder at a
// time: x is granted in folder when the PAT, the audience, the request (if
// any) and some role that applies in folder all grant it.
func referenceGranted(x, folder string, pat, aud, req []string, grants []storage.Grant) bool {
	if !inSet(x, pat) || !inSet(x, aud) || len(req) > 0 && !inSet(x, req) {
		return false
	}
	for _, g := range grants {
		if FolderCovers(g.Folder, folder) && inSet(x, g.Permissions) {
			return true
		}
	}
	return false
}

var (
	propFolders      = []string{"", "", "F", "F/G", "F/G/H", "FX", "K"}
	propProbeFolders = []string{"F", "F/G", "F/G/H", "F/G/H/I", "F/GX", "FX", "FX/G", "K", "K/L", "Z"}
)

type effectiveCase struct {
	pat, aud, req []string
	grants        []storage.Grant
}

// probes are the names on which the case is compared with the reference.
func (c effectiveCase) probes() []string {
	lists := [][]string{c.pat, c.aud, c.req}
	for _, g := range c.grants {
		lists = append(lists, g.Permissions)
	}
	return probeNames(lists...)
}

func randomEffectiveCase(rng *rand.Rand) effectiveCase {
	c := effectiveCase{
		pat: randomNames(rng, propNames, 5),
		aud: randomNames(rng, propNames, 5),
	}
	if rng.IntN(3) == 0 {
		c.req = randomNames(rng, propNames, 3)
	}
	for range rng.IntN(6) {
		c.grants = append(c.grants, grant(propFolders[rng.IntN(len(propFolders))], randomNames(rng, propNames, 4)...))
	}
	return c
}

func TestEffectiveMatchesSpecInEveryFolder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for range 5000 {
		c := randomEffectiveCase(rng)
		r, err := Effective(c.pat, c.aud, c.req, c.grants)

		var wantErr error
		for _, s := range c.req {
			if !inSet(s, c.pat) {
				wantErr = ErrScopeNotCovered
				break
			}
			if len(Meet([]string{s}, c.aud)) == 0 {
				wantErr = ErrScopeNotInAudience
				break
			}
		}
		probes := c.probes()
		if wantErr == nil {
			wantErr = ErrNoRights
			for _, g := range c.grants {
				for _, x := range probes {
					if referenceGranted(x, g.Folder, c.pat, c.aud, c.req, c.grants) {
						wantErr = nil
					}
				}
			}
		}
		if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
			t.Fatalf("%+v: err = %v, want %v", c, err, wantErr)
		}
		if err != nil {
			continue
		}

		checkReduced(t, "Scope", r.Scope)
		for i, f := range r.Folders {
			if i > 0 && r.Folders[i-1].Folder >= f.Folder {
				t.Fatalf("%+v: Folders not sorted and unique: %+v", c, r.Folders)
			}
			checkReduced(t, "Actions", f.Actions)
			if slices.Equal(f.Actions, r.Scope) {
				t.Fatalf("%+v: folder %q listed without rights beyond org", c, f.Folder)
			}
			for _, x := range r.Scope {
				if !inSet(x, f.Actions) {
					t.Fatalf("%+v: folder %q lacks org-wide right %q", c, f.Folder, x)
				}
			}
		}
		for _, folder := range propProbeFolders {
			at := rightsAt(r, folder)
			for _, x := range probes {
				if got, want := inSet(x, at), referenceGranted(x, folder, c.pat, c.aud, c.req, c.grants); got != want {
					t.Fatalf("%+v:\nrights %+v grant %q in %q: %v, want %v", c, r, x, folder, got, want)
				}
			}
		}
		for _, x := range probes {
			if got, want := inSet(x, r.Scope), referenceGranted(x, "Z", c.pat, c.aud, c.req, c.grants); got != want {
				t.Fatalf("%+v: scope %q grants %q: %v, want %v (org-wide only)", c, r.Scope, x, got, want)
			}
		}
	}
}

func TestRemovingAnyGrantNeverAddsRights(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for range 3000 {
		c := randomEffectiveCase(rng)
		before, err := Effective(c.pat, c.aud, c.req, c.grants)
		if err != nil || len(c.grants) == 0 {
			continue
		}
		i := rng.IntN(len(c.grants))
		fewer := slices.Delete(slices.Clone(c.grants), i, i+1)
		after, err := Effective(c.pat, c.aud, c.req, fewer)
		if errors.Is(err, ErrNoRights) {
			continue
		}
		if err != nil {
			t.Fatalf("removing a grant changed the error to %v", err)
		}
		for _, folder := range propProbeFolders {
			for _, x := range c.probes() {
				if inSet(x, rightsAt(after, folder)) && !inSet(x, rightsAt(before, folder)) {
					t.Fatalf("%+v: removing grant %d adds %q in %q", c, i, x, folder)
				}
			}
		}
	}
}

// --- Explain --------------------------------------------------------------

func TestExplain(t *testing.T) {
	orchestrator := []string{"OR.Jobs", "OR.Folders", "OR.Assets"}
	tests := []struct {
		name      string
		pat, aud  []string
		requested []string
		grants    []storage.Grant
		want      []Dropped
	}{
		{
			name: "a PAT scope outside the audience is dropped as not in audience",
			pat:  []string{"OR.Jobs", "DU.Documents"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR", "DU")},
			want:   []Dropped{{"DU.Documents", DropNotInAudience}},
		},
		{
			name: "a PAT scope in the audience but not requested is dropped as not requested",
			pat:  []string{"OR.Jobs", "OR.Assets"}, aud: orchestrator, requested: []string{"OR.Jobs"},
			grants: []storage.Grant{grant("", "OR")},
			want:   []Dropped{{"OR.Assets", DropNotRequested}},
		},
		{
			name: "a requested scope no role grants is dropped as no role grants it",
			pat:  []string{"OR.Jobs", "OR.Assets"}, aud: orchestrator, requested: []string{"OR.Jobs", "OR.Assets"},
			grants: []storage.Grant{grant("", "OR.Jobs")},
			want:   []Dropped{{"OR.Assets", DropNoRole}},
		},
		{
			name: "the audience's part of a broad PAT scope is what is dropped",
			pat:  []string{"OR"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR.Jobs")},
			want:   []Dropped{{"OR.Assets", DropNoRole}, {"OR.Folders", DropNoRole}},
		},
		{
			name: "the requested part of a scope is what is dropped",
			pat:  []string{"OR.Jobs"}, aud: orchestrator, requested: []string{"OR.Jobs.Read"},
			grants: []storage.Grant{grant("", "OR.Assets")},
			want:   []Dropped{{"OR.Jobs.Read", DropNoRole}},
		},
		{
			name: "a partly granted scope is not dropped",
			pat:  []string{"OR.Jobs"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR.Jobs.Read")},
			want:   nil,
		},
		{
			name: "a scope granted only in a folder is not dropped",
			pat:  []string{"OR.Jobs"}, aud: orchestrator,
			grants: []storage.Grant{grant("Finance", "OR.Jobs")},
			want:   nil,
		},
		{
			name: "the first stage that drops a scope gives the reason",
			pat:  []string{"DU", "OR.Assets", "OR.Jobs"}, aud: orchestrator, requested: []string{"OR.Jobs"},
			want: []Dropped{{"DU", DropNotInAudience}, {"OR.Assets", DropNotRequested}, {"OR.Jobs", DropNoRole}},
		},
		{
			name: "overlapping PAT scopes give one entry",
			pat:  []string{"OR", "OR.Assets", "OR.Assets"}, aud: orchestrator,
			grants: []storage.Grant{grant("", "OR.Jobs", "OR.Folders")},
			want:   []Dropped{{"OR.Assets", DropNoRole}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Explain(tt.pat, tt.aud, tt.requested, tt.grants)
			if err != nil {
				t.Fatalf("Explain error = %v", err)
			}
			if !reflect.DeepEqual(got.Dropped, tt.want) {
				t.Errorf("Dropped = %+v, want %+v", got.Dropped, tt.want)
			}
		})
	}
}

func TestExplainAnswersWhenNothingIsGranted(t *testing.T) {
	e, err := Explain([]string{"OR.Jobs"}, []string{"OR"}, nil, nil)
	if err != nil {
		t.Fatalf("Explain error = %v, want an explanation", err)
	}
	if !e.Empty() {
		t.Errorf("rights = %+v, want empty", e.Rights)
	}
	if want := []Dropped{{"OR.Jobs", DropNoRole}}; !reflect.DeepEqual(e.Dropped, want) {
		t.Errorf("Dropped = %+v, want %+v", e.Dropped, want)
	}
	if _, err := Explain([]string{"OR.Jobs"}, []string{"OR"}, []string{"OR"}, nil); !errors.Is(err, ErrScopeNotCovered) {
		t.Errorf("Explain with a request beyond the PAT: err = %v, want ErrScopeNotCovered", err)
	}
}

func TestDroppedJSON(t *testing.T) {
	got, err := json.Marshal(Dropped{Scope: "OR.Assets", Reason: DropNotInAudience})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"scope":"OR.Assets","reason":"not in audience"}`; string(got) != want {
		t.Errorf("json = %s, want %s", got, want)
	}
	for reason, want := range map[DropReason]string{
		DropNotInAudience: "not in audience", DropNotRequested: "not requested", DropNoRole: "no role grants it",
	} {
		if string(reason) != want {
			t.Errorf("reason %q, want the documented %q", reason, want)
		}
	}
}

func TestExplainProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(99, 100))
	for range 5000 {
		c := randomEffectiveCase(rng)
		e, err := Explain(c.pat, c.aud, c.req, c.grants)
		r, effErr := Effective(c.pat, c.aud, c.req, c.grants)
		switch {
		case errors.Is(effErr, ErrNoRights):
			if err != nil || !e.Empty() {
				t.Fatalf("%+v: Effective says no rights, Explain = %+v, %v", c, e, err)
			}
		case effErr != nil:
			if err == nil || err.Error() != effErr.Error() {
				t.Fatalf("%+v: Explain err = %v, Effective err = %v", c, err, effErr)
			}
			continue
		default:
			if err != nil || !reflect.DeepEqual(&e.Rights, r) {
				t.Fatalf("%+v: Explain rights = %+v (%v), Effective = %+v", c, e.Rights, err, r)
			}
		}

		granted := slices.Clone(e.Scope)
		for _, f := range e.Folders {
			granted = append(granted, f.Actions...)
		}
		base := Meet(c.pat, c.aud)
		if len(c.req) > 0 {
			base = Meet(base, c.req)
		}
		for i, d := range e.Dropped {
			if i > 0 && e.Dropped[i-1].Scope >= d.Scope {
				t.Fatalf("%+v: Dropped not sorted and unique: %+v", c, e.Dropped)
			}
			if !coveredByAny(d.Scope, c.pat) {
				t.Fatalf("%+v: dropped %q is not covered by any PAT scope", c, d.Scope)
			}
			if overlapsAny(d.Scope, granted) {
				t.Fatalf("%+v: dropped %q although %q is granted", c, d.Scope, granted)
			}
			switch d.Reason {
			case DropNotInAudience:
				if !slices.Contains(c.pat, d.Scope) || overlapsAny(d.Scope, c.aud) {
					t.Fatalf("%+v: %q not in audience, but it is", c, d.Scope)
				}
			case DropNotRequested:
				if len(c.req) == 0 || !inSet(d.Scope, c.aud) || overlapsAny(d.Scope, c.req) {
					t.Fatalf("%+v: %q not requested, but it is or it is not in the audience", c, d.Scope)
				}
			case DropNoRole:
				if !inSet(d.Scope, base) {
					t.Fatalf("%+v: %q dropped for lack of a role but not in the PAT∩audience∩request", c, d.Scope)
				}
			default:
				t.Fatalf("unknown reason %q", d.Reason)
			}
		}
		// Every PAT scope is accounted for: partly granted, or dropped
		// (itself or a part of it).
		for _, s := range c.pat {
			if overlapsAny(s, granted) {
				continue
			}
			if !slices.ContainsFunc(e.Dropped, func(d Dropped) bool { return Covers(s, d.Scope) }) {
				t.Fatalf("%+v: PAT scope %q neither granted nor dropped: %+v", c, s, e)
			}
		}
	}
}

// --- Benchmarks -----------------------------------------------------------

// realisticCase is an exchange with 30 PAT scopes, an audience of 12
// scopes, 5 organization-wide roles and 20 folder assignments.
func realisticCase() (pat, aud []string, grants []storage.Grant) {
	resources := []string{"Jobs", "Folders", "Assets", "Queues", "Robots", "Users", "Settings", "Machines", "Packages", "Webhooks"}
	for _, res := range resources {
		for _, act := range []string{"Read", "Write", "Delete"} {
			pat = append(pat, "OR."+res+"."+act)
		}
		aud = append(aud, "OR."+res)
	}
	aud = append(aud, "OR.Audit", "OR.License")
	for i := range 5 {
		var perms []string
		for j := range 4 {
			perms = append(perms, "OR."+resources[(i+j)%len(resources)]+".Read")
		}
		grants = append(grants, grant("", perms...))
	}
	for i := range 20 {
		folder := fmt.Sprintf("Dept%d/Team%d", i/4, i)
		if i%5 == 0 {
			folder = fmt.Sprintf("Dept%d", i/4)
		}
		var perms []string
		for j := range 5 {
			perms = append(perms, "OR."+resources[(i+2*j)%len(resources)]+[]string{".Write", ".Delete", ""}[j%3])
		}
		grants = append(grants, grant(folder, perms...))
	}
	return pat, aud, grants
}

func BenchmarkEffective(b *testing.B) {
	pat, aud, grants := realisticCase()
	r, err := Effective(pat, aud, nil, grants)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("scope %d rights, %d folders", len(r.Scope), len(r.Folders))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Effective(pat, aud, nil, grants); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExplain(b *testing.B) {
	pat, aud, grants := realisticCase()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Explain(pat, aud, nil, grants); err != nil {
			b.Fatal(err)
		}
	}
}
