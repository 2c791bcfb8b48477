package scenario

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDump prints one history's truth and a coarse memory profile of each
// boot (a sample every 15 minutes), to look at what a seed drew:
//
//	SCENARIO=leak-at-rest SEED=3 go test -v -run TestDump ./internal/scenario
//
// With SCENARIO_OUT=file it also writes the bodies, concatenated, for
// `drainwatch import --alerts file`. Without SCENARIO it dumps the first
// scenario's seed 0, so that the dump itself is tested.
func TestDump(t *testing.T) {
	name := os.Getenv("SCENARIO")
	if name == "" {
		name = All()[0].Name
	}
	seed, _ := strconv.ParseUint(os.Getenv("SEED"), 10, 64)
	for _, sc := range All() {
		if sc.Name != name {
			continue
		}
		h := sc.Gen(seed, start)
		if len(h.Bodies) == 0 || h.Lines == 0 || len(h.Truth.Boots) == 0 {
			t.Fatalf("%s seed %d: an empty history (%d bodies, %d lines, %d boots)", name, seed, len(h.Bodies), h.Lines, len(h.Truth.Boots))
		}
		truth, _ := json.MarshalIndent(h.Truth, "", "  ")
		t.Logf("%s seed %d, app %s: %d bodies, %d lines\n%s", h.Scenario, h.Seed, h.App, len(h.Bodies), h.Lines, truth)
		ms := memory(t, h)
		for _, b := range h.Truth.Boots {
			var sb strings.Builder
			if len(ms[b.Boot]) == 0 {
				t.Errorf("%s boot %s: no memory samples in its bodies", b.Dyno, b.Boot)
			}
			for i, p := range ms[b.Boot] {
				if i%45 == 0 {
					sb.WriteString(strconv.Itoa(int(p.mb)) + " ")
				}
			}
			t.Logf("%-8s %.8s from +%s: %s", b.Dyno, b.Boot, b.Start.Sub(h.Start), sb.String())
		}
		if out := os.Getenv("SCENARIO_OUT"); out != "" {
			var all []byte
			for _, b := range h.Bodies {
				all = append(all, b.Data...)
			}
			if err := os.WriteFile(out, all, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	t.Fatalf("no scenario %q", name)
}
