package main

import (
	"bufio"
	"bytes"
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
	self        time.Duration // user + system of this process
	postgres    time.Duration // user + system of every process named postgres
}

func takeCPUSnapshot() cpuSnapshot {
	var s cpuSnapshot
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	s.machineBusy = machineBusy()
	s.postgres = processCPU("postgres")
	return s
}

// processCPU sums utime + stime (/proc/PID/stat, in USER_HZ) of every
// process whose command name is comm. A backend that ends between two
// snapshots takes its time with it; the benchmark's backends live for the
// whole run.
func processCPU(comm string) time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid … : comm may hold spaces, so cut at the last ')'.
		open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || end < open || string(b[open+1:end]) != comm {
			continue
		}
		f := strings.Fields(string(b[end+1:]))
		// After comm: state(0) ppid(1) … utime(11) stime(12).
		if len(f) < 13 {
			continue
		}
		u, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 == nil && err2 == nil {
			ticks += u + st
		}
	}
	return time.Duration(ticks) * (time.Second / 100)
}

// machineBusy reads the aggregate "cpu" line of /proc/stat (Linux only).
// Its unit is USER_HZ, which is 100 on every Linux architecture Go supports.
func machineBusy() time.Duration {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0
	}
	var ticks int64
	// user nice system idle iowait irq softirq steal: skip idle and iowait.
	for i, f := range fields[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100)
}

// cpuAccount is the CPU the measured load cost, in CPU-seconds, and per
// granted exchange in µs.
type cpuAccount struct {
	MachineSeconds  float64 `json:"machine_cpu_seconds"`
	ServerSeconds   float64 `json:"server_cpu_seconds"`
	LoadGenSeconds  float64 `json:"load_generator_cpu_seconds"`
	PostgresSeconds float64 `json:"postgres_cpu_seconds"`
	OtherSeconds    float64 `json:"other_cpu_seconds"`
	MachinePerExch  float64 `json:"machine_cpu_per_exchange_us"`
	LoadGenPerExch  float64 `json:"load_generator_cpu_per_exchange_us"`
	PostgresPerExch float64 `json:"postgres_cpu_per_exchange_us"`
	OtherPerExch    float64 `json:"other_cpu_per_exchange_us"`
	MachineCapacity float64 `json:"machine_cpu_capacity_seconds"`
}

func account(before, after cpuSnapshot, server, granted float64, cpus int, wall time.Duration) cpuAccount {
	a := cpuAccount{
		MachineSeconds:  (after.machineBusy - before.machineBusy).Seconds(),
		ServerSeconds:   server,
		LoadGenSeconds:  (after.self - before.self).Seconds(),
		PostgresSeconds: (after.postgres - before.postgres).Seconds(),
		MachineCapacity: float64(cpus) * wall.Seconds(),
	}
	a.OtherSeconds = max(0, a.MachineSeconds-a.ServerSeconds-a.LoadGenSeconds-a.PostgresSeconds)
	if granted > 0 {
		a.MachinePerExch = a.MachineSeconds / granted * 1e6
		a.LoadGenPerExch = a.LoadGenSeconds / granted * 1e6
		a.PostgresPerExch = a.PostgresSeconds / granted * 1e6
		a.OtherPerExch = a.OtherSeconds / granted * 1e6
	}
	return a
}
