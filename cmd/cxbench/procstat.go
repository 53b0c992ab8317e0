package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is the kernel's USER_HZ: /proc/<pid>/stat counts CPU time in
// these. It is 100 on every Linux this runs on (getconf CLK_TCK).
const clockTicks = 100

// procSample is one reading of a process's CPU time and memory.
type procSample struct {
	CPUSeconds float64 // user + system
	RSSBytes   int64   // resident now
	PeakBytes  int64   // VmHWM: resident peak since start or the last resetPeak
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) (procSample, error) {
	var s procSample
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	if s.CPUSeconds, err = cpuOfStat(b); err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	s.RSSBytes = statusKB(status, "VmRSS:") * 1024
	s.PeakBytes = statusKB(status, "VmHWM:") * 1024
	return s, nil
}

// cpuOfStat returns utime + stime of a /proc/<pid>/stat line, in seconds.
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func cpuOfStat(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state(3) ppid(4) ... utime(14) stime(15): indexes 11 and 12.
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(ut+st) / clockTicks, nil
}

// statusKB returns the value in kB of a /proc/<pid>/status line such as
// "VmHWM:	  60548 kB", or 0 if there is none.
func statusKB(status []byte, key string) int64 {
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// resetPeak resets a process's VmHWM to its current RSS (writing 5 to
// /proc/<pid>/clear_refs), so a run's peak is its own. It needs to own the
// process or be root; without that the peak is the process's lifetime
// peak, which report says.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// findProcess returns the pid of the first process whose command line
// contains every one of parts, or 0.
func findProcess(parts ...string) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		match := true
		for _, p := range parts {
			if !strings.Contains(cmd, p) {
				match = false
				break
			}
		}
		if match {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	return 0
}
