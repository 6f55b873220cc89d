package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuSnapshot is where the machine's CPU time has gone so far: all of it
// (from /proc/stat, every process), this process's own (the load
// generator) and PostgreSQL's. With the server's process_cpu_seconds_total
// the rest is the kernel's own work (loopback networking in softirq) and
// whatever else runs: on one machine they all share the cores, and the
// split says what bounds the throughput.
type cpuSnapshot struct {
	machineBusy time.Duration // user + nice + system + irq + softirq + steal, all CPUs; 0 if unknown
	interrupts  time.Duration // irq + softirq: the kernel's work outside any process (loopback networking)
	self        time.Duration // user + system of this process
	postgres    time.Duration // user + system of every process named postgres
}

// takeCPUSnapshot reads the counters; postmaster is the PID of the
// benchmark's PostgreSQL (0: not on this machine, not counted).
func takeCPUSnapshot(postmaster int) cpuSnapshot {
	var s cpuSnapshot
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	s.machineBusy, s.interrupts = machineBusy()
	if postmaster > 0 {
		s.postgres = clusterCPU(postmaster)
	}
	return s
}

// procStat is what /proc/PID/stat says of a process: its parent and its
// CPU time (utime + stime).
func procStat(path string) (ppid int, cpu time.Duration, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid … : comm may hold spaces, so cut at the last ')'.
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[end+1:]))
	// After comm: state(0) ppid(1) … utime(11) stime(12), in USER_HZ.
	if len(f) < 13 {
		return 0, 0, false
	}
	pp, err0 := strconv.Atoi(f[1])
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err0 != nil || err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return pp, time.Duration(u+st) * (time.Second / 100), true
}

// clusterCPU sums the CPU time of a PostgreSQL postmaster and its children
// (backends, WAL writer, checkpointer, …): one cluster only, whatever other
// clusters run on the machine. A backend that ends between two snapshots
// takes its time with it; the servers' backends live for the whole run.
func clusterCPU(postmaster int) time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var total time.Duration
	for _, p := range stats {
		pid, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "/proc/"), "/stat"))
		ppid, cpu, ok := procStat(p)
		if ok && (pid == postmaster || ppid == postmaster) {
			total += cpu
		}
	}
	return total
}

// postmasterPID finds the postmaster of db's server when it runs on this
// machine: the parent of the backend serving this connection. 0 if it
// does not (the backend's PID is not a local process).
func postmasterPID(ctx context.Context, db *sql.DB) int {
	var backend int
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0
	}
	defer conn.Close()
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return 0
	}
	ppid, _, ok := procStat(fmt.Sprintf("/proc/%d/stat", backend))
	if !ok {
		return 0
	}
	return ppid
}

// machineBusy reads the aggregate "cpu" line of /proc/stat (Linux only):
// all busy time, and the interrupt part of it. Its unit is USER_HZ, which
// is 100 on every Linux architecture Go supports.
func machineBusy() (busy, interrupts time.Duration) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, 0
	}
	var ticks, irq int64
	// user nice system idle iowait irq softirq steal: skip idle and iowait.
	for i, f := range fields[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, 0
		}
		ticks += n
		if i == 5 || i == 6 {
			irq += n
		}
	}
	return time.Duration(ticks) * (time.Second / 100), time.Duration(irq) * (time.Second / 100)
}

// cpuAccount is the CPU the measured load cost, in CPU-seconds, and per
// granted exchange in µs.
type cpuAccount struct {
	MachineSeconds  float64 `json:"machine_cpu_seconds"`
	ServerSeconds   float64 `json:"server_cpu_seconds"`
	LoadGenSeconds  float64 `json:"load_generator_cpu_seconds"`
	PostgresSeconds float64 `json:"postgres_cpu_seconds"`
	OtherSeconds    float64 `json:"other_cpu_seconds"`
	// InterruptSeconds is the kernel's interrupt work (irq + softirq),
	// mostly the loopback networking of the exchanges.
	InterruptSeconds float64 `json:"interrupt_cpu_seconds"`
	// ExchangeSeconds is what the exchanges cost the machine: the server,
	// the load generator, PostgreSQL and the interrupt work. Unlike
	// MachineSeconds it leaves out whatever else ran on the machine
	// (other processes' user and system time): on a shared machine, the
	// figure to compare.
	ExchangeSeconds float64 `json:"exchange_cpu_seconds"`
	MachinePerExch  float64 `json:"machine_cpu_per_exchange_us"`
	LoadGenPerExch  float64 `json:"load_generator_cpu_per_exchange_us"`
	PostgresPerExch float64 `json:"postgres_cpu_per_exchange_us"`
	OtherPerExch    float64 `json:"other_cpu_per_exchange_us"`
	ExchangePerExch float64 `json:"exchange_cpu_per_exchange_us"`
	MachineCapacity float64 `json:"machine_cpu_capacity_seconds"`
}

func account(before, after cpuSnapshot, server, granted float64, cpus int, wall time.Duration) cpuAccount {
	a := cpuAccount{
		MachineSeconds:   (after.machineBusy - before.machineBusy).Seconds(),
		ServerSeconds:    server,
		LoadGenSeconds:   (after.self - before.self).Seconds(),
		PostgresSeconds:  (after.postgres - before.postgres).Seconds(),
		MachineCapacity:  float64(cpus) * wall.Seconds(),
		InterruptSeconds: (after.interrupts - before.interrupts).Seconds(),
	}
	a.OtherSeconds = max(0, a.MachineSeconds-a.ServerSeconds-a.LoadGenSeconds-a.PostgresSeconds)
	a.ExchangeSeconds = a.ServerSeconds + a.LoadGenSeconds + a.PostgresSeconds + a.InterruptSeconds
	if granted > 0 {
		a.MachinePerExch = a.MachineSeconds / granted * 1e6
		a.LoadGenPerExch = a.LoadGenSeconds / granted * 1e6
		a.PostgresPerExch = a.PostgresSeconds / granted * 1e6
		a.OtherPerExch = a.OtherSeconds / granted * 1e6
		a.ExchangePerExch = a.ExchangeSeconds / granted * 1e6
	}
	return a
}
