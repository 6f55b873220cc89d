package main

import (
	"strings"
	"testing"
)

// TestLargestSharedMapping reads the postmaster's shared memory segment
// out of an smaps excerpt, with 4 kB and with 2 MB pages.
func TestLargestSharedMapping(t *testing.T) {
	smaps := func(pageKB int) string {
		page := map[int]string{4: "   4", 2048: "2048"}[pageKB]
		return `55d0c4a00000-55d0c4e3c000 r-xp 00000000 08:01 1234 /usr/lib/postgresql/15/bin/postgres
Size:               4336 kB
KernelPageSize:        4 kB
7f3a00000000-7f3a46c00000 rw-s 00000000 00:01 5678 /anon_hugepage (deleted)
Size:            1159168 kB
KernelPageSize:     ` + page + ` kB
MMUPageSize:        ` + page + ` kB
Shared_Hugetlb:    49152 kB
7f3a50000000-7f3a50001000 rw-s 00000000 00:05 9 /SYSV00000000 (deleted)
Size:                  4 kB
KernelPageSize:        4 kB
7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0 [stack]
Size:                132 kB
KernelPageSize:        4 kB
`
	}
	for _, tc := range []struct {
		pageKB int
		want   string
	}{{4, "1132 MB shared memory in 4 kB pages (no huge pages"}, {2048, "1132 MB shared memory in 2 MB huge pages"}} {
		m := largestSharedMapping(strings.NewReader(smaps(tc.pageKB)))
		if m == nil || m.Bytes != 1159168<<10 || m.PageSize != int64(tc.pageKB)<<10 {
			t.Fatalf("%d kB pages: got %+v", tc.pageKB, m)
		}
		if got := m.describe(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%d kB pages: %q, want it to start %q", tc.pageKB, got, tc.want)
		}
	}
	if m := largestSharedMapping(strings.NewReader("7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0 [stack]\nSize: 132 kB\nKernelPageSize: 4 kB\n")); m != nil {
		t.Errorf("no shared mapping, got %+v", m)
	}
	var none *sharedMemory
	if got := none.describe(); !strings.Contains(got, "unknown") {
		t.Errorf("nil: %q", got)
	}
}
