package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procRSS reads a memory figure (VmRSS, VmHWM) of a process, in MB.
func procRSS(pid int, field string) (float64, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, err := strconv.ParseFloat(f[1], 64)
				return kb / 1024, err == nil
			}
		}
	}
	return 0, false
}

// selfProc is drainwatch running a subcommand as a child process.
type selfProc struct {
	cmd    *exec.Cmd
	addr   string
	syslog chan string // the syslog listener's address, when it says it
	done   chan error
}

var listenRe = regexp.MustCompile(`listening" addr=(\S+)`)

// startSelf runs this binary with args and waits for its "listening" line.
func startSelf(ctx context.Context, env []string, args ...string) (*selfProc, error) {
	return startBin(ctx, "", env, args...)
}

// startBin is startSelf with another drainwatch binary (exe; "" is this one).
func startBin(ctx context.Context, exe string, env []string, args ...string) (*selfProc, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &selfProc{cmd: cmd, done: make(chan error, 1), syslog: make(chan string, 1)}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				if strings.Contains(sc.Text(), "syslog drain listening") {
					select {
					case p.syslog <- m[1]:
					default:
					}
					continue
				}
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case p.addr = <-found:
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("%s exited before listening: %v", args[0], err)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not start", args[0])
	case <-ctx.Done():
		cmd.Process.Kill()
		return nil, ctx.Err()
	}
}

func (p *selfProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// findDrainwatch says which drainwatch binary to run as the daemon: bin if
// set; else drainwatch beside this executable (go install puts both in one
// place); else one built from the drainwatch module around the working
// directory, into a temporary directory that cleanup removes; else
// drainwatch on PATH.
func findDrainwatch(ctx context.Context, bin string, log io.Writer) (path string, cleanup func(), err error) {
	none := func() {}
	if bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", none, fmt.Errorf("--serve-bin: %w", err)
		}
		return bin, none, nil
	}
	if exe, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(exe), "drainwatch")
		if st, err := os.Stat(beside); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return beside, none, nil
		}
	}
	if root := moduleRoot(ctx); root != "" {
		dir, err := os.MkdirTemp("", "drainwatch-bench-bin-")
		if err != nil {
			return "", none, err
		}
		out := filepath.Join(dir, "drainwatch")
		fmt.Fprintf(log, "building drainwatch from %s (go build; the first build compiles SQLite, about 90 s)\n", root)
		build := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/drainwatch")
		build.Dir = root
		build.Stdout, build.Stderr = log, log
		if err := build.Run(); err != nil {
			os.RemoveAll(dir)
			return "", none, fmt.Errorf("go build ./cmd/drainwatch in %s: %w", root, err)
		}
		return out, func() { os.RemoveAll(dir) }, nil
	}
	if p, err := exec.LookPath("drainwatch"); err == nil {
		return p, none, nil
	}
	return "", none, errors.New("no drainwatch binary: pass --serve-bin PATH, run from the drainwatch source tree, or put drainwatch on PATH")
}

// moduleRoot is the directory of the drainwatch module around the working
// directory, or "" when there is none (or no go command).
func moduleRoot(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	if err != nil {
		return ""
	}
	path, dir, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok || path != modulePath {
		return ""
	}
	return dir
}

// modulePath is the drainwatch module's import path.
const modulePath = "github.com/drainwatch/drainwatch"

// procCPU is the CPU time (user and system) process pid has used so far.
func procCPU(pid int) (time.Duration, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The fields after the command's name (in parentheses, maybe with spaces):
	// utime and stime are the 12th and 13th, in clock ticks (100 a second).
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+k) * 10 * time.Millisecond, true
}
