package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// sharedMemory is PostgreSQL's main shared memory segment (shared_buffers
// and the rest) as the postmaster maps it: its size and the page size the
// kernel backs it with. With 4 kB pages each backend faults in its own
// page table entries for every page it touches, which costs a lot on some
// virtual machines once the tables outgrow what a backend has touched
// (a million PATs); with huge pages (2 MB) there is next to nothing to
// fault in. The results say which, so that runs can be compared.
type sharedMemory struct {
	Bytes    int64 `json:"bytes"`
	PageSize int64 `json:"page_size_bytes"`
}

// postmasterSharedMemory reads the largest shared mapping of the
// postmaster from /proc (nil when it is not on this machine, or not
// readable).
func postmasterSharedMemory(postmaster int) *sharedMemory {
	if postmaster == 0 {
		return nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", postmaster))
	if err != nil {
		return nil
	}
	defer f.Close()
	return largestSharedMapping(f)
}

// largestSharedMapping parses smaps (proc(5)): for each shared mapping
// ("rw-s" permissions), its Size and KernelPageSize, and returns the
// largest; nil if there is none.
func largestSharedMapping(r io.Reader) *sharedMemory {
	var best, cur *sharedMemory
	shared := false
	done := func() {
		if cur != nil && shared && cur.PageSize > 0 && (best == nil || cur.Bytes > best.Bytes) {
			best = cur
		}
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") && len(fields) >= 2 && strings.Contains(fields[0], "-") {
			// A mapping's header: "start-end perms offset dev inode [path]".
			done()
			cur, shared = &sharedMemory{}, len(fields[1]) == 4 && fields[1][3] == 's'
			continue
		}
		if cur == nil || len(fields) < 3 || fields[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Size:":
			cur.Bytes = kb << 10
		case "KernelPageSize:":
			cur.PageSize = kb << 10
		}
	}
	done()
	return best
}

// describe says it for the report.
func (m *sharedMemory) describe() string {
	if m == nil {
		return "unknown (PostgreSQL is not on this machine, or its /proc entry is not readable)"
	}
	mb := float64(m.Bytes) / (1 << 20)
	if m.PageSize >= 2<<20 {
		return fmt.Sprintf("%.0f MB shared memory in %d MB huge pages", mb, m.PageSize>>20)
	}
	return fmt.Sprintf("%.0f MB shared memory in %d kB pages (no huge pages: with a large table every backend faults its pages in; see docs/operations.md)", mb, m.PageSize>>10)
}
