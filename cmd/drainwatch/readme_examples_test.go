package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// shellWords splits a command line as a POSIX shell would for the README's
// examples: words, 'single' and "double" quotes, backslash-newline
// continuations, and a trailing # comment (returned apart).
func shellWords(line string) (words []string, comment string) {
	line = strings.ReplaceAll(line, "\\\n", " ")
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == '#' && !inWord:
			return words, strings.TrimSpace(line[i+1:])
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				end = len(line) - i - 1
			}
			w.WriteString(line[i+1 : i+1+end])
			inWord = true
			i += end + 1
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words, ""
}

// example is a command in the README and the output it shows.
type example struct {
	line int    // in README.md
	cmd  string // as written, continuations joined
	want string // the output shown: the lines after a "$ " command, or a "# " comment after a command
}

// readmeExamples reads the shell examples of README.md: in a ```sh block
// each line is a command (an indented or "\"-continued line belongs to the
// one before; a "# …" line after it is its output); in a plain ``` block,
// each "$ " line is a command and the lines up to the next are its output.
func readmeExamples(t *testing.T) []example {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	var block string // "", "sh" or "plain"
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case block == "" && strings.HasPrefix(l, "```"):
			block = "plain"
			if strings.TrimPrefix(l, "```") == "sh" {
				block = "sh"
			}
		case block != "" && l == "```":
			block = ""
		case block == "sh" && strings.HasPrefix(l, "# "):
			out[len(out)-1].want += strings.TrimPrefix(l, "# ") + "\n"
		case block == "sh" && l != "":
			ex := example{line: i + 1, cmd: l}
			for strings.HasSuffix(ex.cmd, "\\") && i+1 < len(lines) {
				i++
				ex.cmd += "\n" + lines[i]
			}
			out = append(out, ex)
		case block == "plain" && strings.HasPrefix(l, "$ "):
			out = append(out, example{line: i + 1, cmd: strings.TrimPrefix(l, "$ ")})
		case block == "plain" && len(out) > 0 && out[len(out)-1].line > 0:
			if ex := &out[len(out)-1]; ex.want != "" || l != "" {
				ex.want += l + "\n"
			}
		}
	}
	return out
}

// notLocal are the README's commands that need more than this machine: a
// Heroku account, or the whole test suite (which runs this test).
var notLocal = regexp.MustCompile(`^(heroku |go test )`)

// TestReadmeExamplesRun runs every local shell example of the README as
// shown — the daemon, curl's post, each query and the import — and checks
// that each prints what the README says. `go run ./cmd/drainwatch` is this
// package's Main; the daemon listens on 127.0.0.1, port 0, where the README
// says :8080, and its file is the query commands' ./drainwatch.db
// (DRAINWATCH_DB). A "…" in shown output stands for any text.
func TestReadmeExamplesRun(t *testing.T) {
	examples := readmeExamples(t)
	dbPath := filepath.Join(t.TempDir(), "drainwatch.db")
	env := map[string]string{"DRAINWATCH_DB": dbPath, "COLUMNS": "100"}
	var daemon string // its address, once started
	ran := 0
	for _, ex := range examples {
		words, _ := shellWords(ex.cmd)
		// Leading VAR=value words are the command's environment.
		cmdEnv := map[string]string{}
		for len(words) > 0 && regexp.MustCompile(`^[A-Z_]+=`).MatchString(words[0]) {
			k, v, _ := strings.Cut(words[0], "=")
			cmdEnv[k] = v
			words = words[1:]
		}
		switch {
		case notLocal.MatchString(strings.Join(words, " ")):
			continue
		case len(words) >= 3 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/drainwatch" && len(words) > 3 && words[3] == "serve":
			daemon = startReadmeDaemon(t, append(words[4:], "--addr", "127.0.0.1:0", "--db", dbPath), cmdEnv)
		case len(words) >= 3 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/drainwatch":
			args := words[3:]
			for i, a := range args {
				if _, err := os.Stat(filepath.Join("../..", a)); err == nil && !strings.HasPrefix(a, "-") {
					args[i] = filepath.Join("../..", a) // the README runs from the repository's root
				}
			}
			// The daemon stores what it acknowledged as rows within a
			// second (docs/guarantees.md): a user in another shell asks
			// later than this test does, so it asks until they are there.
			var code int
			var out, errOut string
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				code, out, errOut = run(t, env, "", args...)
				out = strings.ReplaceAll(out, "../../", "")
				if code != 0 || shown(ex, out) || daemon == "" || time.Now().After(deadline) {
					break
				}
			}
			if code != 0 {
				t.Errorf("README.md:%d: %s: exit %d: %s", ex.line, ex.cmd, code, errOut)
				continue
			}
			checkShown(t, ex, out)
		case len(words) > 0 && words[0] == "curl":
			if daemon == "" {
				t.Fatalf("README.md:%d: curl before the daemon is started", ex.line)
			}
			checkShown(t, ex, readmeCurl(t, words[1:], daemon))
		default:
			t.Errorf("README.md:%d: %q: this test does not know how to run it; teach it, or list it in notLocal", ex.line, ex.cmd)
			continue
		}
		ran++
	}
	if ran < 4 || daemon == "" {
		t.Errorf("ran %d of the README's examples (daemon %q): is the parsing still right?", ran, daemon)
	}
}

// shown reports whether output is what the README shows for ex; "…"
// stands for any text, and trailing spaces and blank lines do not count.
func shown(ex example, got string) bool {
	trim := func(s string) string {
		var b strings.Builder
		for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			b.WriteString(strings.TrimRight(l, " ") + "\n")
		}
		return b.String()
	}
	parts := strings.Split(regexp.QuoteMeta(trim(ex.want)), "…")
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(trim(got))
}

func checkShown(t *testing.T, ex example, got string) {
	t.Helper()
	if ex.want != "" && !shown(ex, got) {
		t.Errorf("README.md:%d: %s\nshows:\n%s\nprints:\n%s", ex.line, ex.cmd, ex.want, got)
	}
}

// startReadmeDaemon runs `drainwatch serve args` with env until the test
// ends, and returns its address once it listens.
func startReadmeDaemon(t *testing.T, args []string, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"serve"}, args...), strings.NewReader(""), pw, io.Discard, func(k string) string { return env[k] })
		pw.Close()
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`msg="drainwatch listening" addr=(\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("the README's daemon exited %d", code)
		}
	})
	select {
	case a := <-addr:
		return a
	case code := <-done:
		t.Fatalf("the README's daemon exited %d before listening", code)
	case <-time.After(30 * time.Second):
		t.Fatal("the README's daemon did not start")
	}
	return ""
}

// readmeCurl does what the README's curl command does (-u, -H,
// --data-binary @file, the URL), against the daemon at addr, and returns
// the answer's body.
func readmeCurl(t *testing.T, args []string, addr string) string {
	t.Helper()
	var user, pass, target string
	var body []byte
	headers := http.Header{}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-u":
			i++
			user, pass, _ = strings.Cut(args[i], ":")
		case "-H":
			i++
			k, v, _ := strings.Cut(args[i], ":")
			headers.Set(k, strings.TrimSpace(v))
		case "--data-binary":
			i++
			b, err := os.ReadFile(filepath.Join("../..", strings.TrimPrefix(args[i], "@")))
			if err != nil {
				t.Fatal(err)
			}
			body = b
		default:
			if strings.HasPrefix(a, "-") {
				t.Fatalf("curl %s: this test does not know the flag", a)
			}
			target = a
		}
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	req, _ := http.NewRequest("POST", u.String(), bytes.NewReader(body))
	req.Header = headers
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Sprintf("HTTP %d: %s", resp.StatusCode, b)
	}
	return string(b)
}
