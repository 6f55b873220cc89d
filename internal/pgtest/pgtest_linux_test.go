package pgtest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHelperProcess is the test binary run by TestInterruptedBinary and
// TestMainCleansUp: it starts the shared cluster and one it never closes,
// reports them and waits to be killed or (PGTEST_HELPER=exit) returns.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("PGTEST_HELPER")
	if mode == "" {
		t.Skip("helper for TestInterruptedBinary and TestMainCleansUp")
	}
	c := SharedCluster(t)
	forgotten, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("READY %d %d %s %s\n", c.pid(), forgotten.pid(), c.Dir(), forgotten.Dir())
	if mode != "exit" {
		time.Sleep(time.Hour)
	}
}

// helper runs TestHelperProcess in mode and returns what it reported.
func helper(t *testing.T, mode string) (cmd *exec.Cmd, pids []int, dirs []string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd = exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), "PGTEST_HELPER="+mode)
	cmd.Stdout = w
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	err = cmd.Start()
	w.Close()
	stderr.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		if b, _ := os.ReadFile(stderr.Name()); t.Failed() {
			t.Logf("helper stderr:\n%s", b)
		}
	})
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var pid1, pid2 int
		var dir1, dir2 string
		if _, err := fmt.Sscanf(sc.Text(), "READY %d %d %s %s", &pid1, &pid2, &dir1, &dir2); err == nil {
			for _, pid := range []int{pid1, pid2} {
				kids := childProcesses(pid)
				if len(kids) == 0 && mode != "exit" {
					t.Fatalf("postgres (pid %d) has no child processes", pid)
				}
				pids = append(pids, pid)
				pids = append(pids, kids...)
			}
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, pids, []string{dir1, dir2}
		}
		t.Logf("helper: %s", sc.Text())
	}
	t.Fatal("helper did not report its clusters")
	return
}

// waitGone waits until all of pids have exited.
func waitGone(t *testing.T, pids []int, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, p := range pids {
		for !reaped(p) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !processGone(p) {
			t.Errorf("process %d survived %s", p, what)
		}
	}
}

func TestMainCleansUp(t *testing.T) {
	requirePostgres(t)
	cmd, pids, dirs := helper(t, "exit")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	waitGone(t, pids, "Main")
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind by Main: %v", d, err)
			os.RemoveAll(d)
		}
	}
}

// TestInterruptedBinary checks that a test binary that is killed takes its
// postgres processes with it (Ctrl-C kills it just the same).
func TestInterruptedBinary(t *testing.T) {
	requirePostgres(t)
	// Become the reaper of orphans, so that the postgres killed along with
	// the helper is reaped by us rather than left as a zombie when PID 1
	// does not reap (as in some containers).
	setSubreaper(t, true)
	t.Cleanup(func() { setSubreaper(t, false) })

	for _, sig := range []syscall.Signal{syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, pids, dirs := helper(t, "wait")
			cmd.Process.Signal(sig)
			cmd.Wait()
			waitGone(t, pids, "the test binary's "+sig.String())
			// Nobody cleans up the directories of a dead test binary.
			for _, d := range dirs {
				os.RemoveAll(d)
			}
		})
	}
}

func setSubreaper(t *testing.T, on bool) {
	const prSetChildSubreaper = 36
	arg := uintptr(0)
	if on {
		arg = 1
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, arg, 0); errno != 0 {
		t.Logf("PR_SET_CHILD_SUBREAPER: %v", errno)
	}
}

// reaped reaps pid if it is a dead child of ours and reports whether it is
// gone.
func reaped(pid int) bool {
	var ws syscall.WaitStatus
	if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got == pid || errors.Is(err, syscall.ECHILD) {
		return processGone(pid)
	}
	return false
}
