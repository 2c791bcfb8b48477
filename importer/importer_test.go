package importer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

func openStore(t *testing.T) (*sqlite.DB, *sqlite.Writer) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "i.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := sqlite.NewWriter(db, sqlite.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); db.Close() })
	return db, w
}

func readFile(t *testing.T, name string) []byte {
	b, err := os.ReadFile("../parser/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImportHerokuLogsText(t *testing.T) {
	ctx := context.Background()
	db, w := openStore(t)
	in := readFile(t, "heroku-logs.txt")
	var progress []Progress
	sum, err := Import(ctx, bytes.NewReader(in), w, Options{App: "av-staging", Progress: func(p Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Format != FormatText || sum.Lines != 41 || sum.Stored != 41 || sum.Skipped != 0 || sum.Bytes != int64(len(in)) {
		t.Fatalf("summary %+v", sum)
	}
	if len(progress) == 0 || progress[len(progress)-1].Stored != 41 {
		t.Errorf("progress %+v", progress)
	}
	// The seed's two lines: the R14 and its mem report, on web.1 in 2017.
	errs, _ := db.Errors(ctx, store.Filter{App: "av-staging", Dyno: "web.1"}, "R14", "mem")
	if len(errs) != 2 || errs[0].Time.Year() != 2017 || *errs[0].MemMB != 680 || errs[1].Code != "R14" {
		t.Errorf("seed lines: %+v", errs)
	}
	if sum.ByKind["router"] != 6 || sum.ByKind["memory"] != 3 || sum.FirstTime.Year() != 2017 {
		t.Errorf("by kind %v, first %v", sum.ByKind, sum.FirstTime)
	}

	// Importing it again stores nothing more.
	again, err := Import(ctx, bytes.NewReader(in), w, Options{App: "av-staging"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Stored != 0 || again.Duplicate != 41 {
		t.Errorf("second import: %+v", again)
	}
	if mem, _ := db.Memory(ctx, store.Filter{App: "av-staging"}); len(mem) != 3 {
		t.Errorf("%d memory rows after two imports", len(mem))
	}
}

func TestImportLogplexBody(t *testing.T) {
	ctx := context.Background()
	db, w := openStore(t)
	body := readFile(t, "drain.logplex")
	// Two saved bodies back to back, with a broken prefix between them.
	in := append(append(append([]byte{}, body...), "garbage line\n"...), body...)
	sum, err := Import(ctx, bytes.NewReader(in), w, Options{App: "x", ChunkBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	// The second copy is the same lines: recognised as already imported.
	if sum.Format != FormatLogplex || sum.Stored != 39 || sum.Duplicate != 39 || sum.Skipped != 1 || sum.Reasons["bad frame length"] != 1 {
		t.Fatalf("summary %+v", sum)
	}
	if mem, _ := db.Memory(ctx, store.Filter{App: "x"}); len(mem) != 3 {
		t.Errorf("%d memory rows", len(mem))
	}
}

func TestImportSkipsWithReasons(t *testing.T) {
	ctx := context.Background()
	_, w := openStore(t)
	good := "2017-10-19T09:58:58.775050+00:00 heroku[web.1]: Error R14 (Memory quota exceeded)\n"
	in := good + "\n" + "=== heroku logs header\n" + "2017-13-45T00:00:00Z heroku[web.1]: bad time\n" +
		"2017-10-19T09:58:58Z heroku[web.1]: " + strings.Repeat("y", 2<<20) + "\n" + good + good[:40]
	sum, err := Import(ctx, strings.NewReader(in), w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Lines != 6 || sum.Stored != 2 || sum.Skipped != 4 {
		t.Fatalf("summary %+v", sum)
	}
	for _, r := range []string{"not a heroku logs line", "bad timestamp", "line longer than 1 MiB"} {
		if sum.Reasons[r] == 0 {
			t.Errorf("no %q in %v", r, sum.Reasons)
		}
	}
	if len(sum.Examples) != 4 || !strings.HasPrefix(sum.Examples[0], "line 2: ") {
		t.Errorf("examples %q", sum.Examples)
	}
	if got := sum.ReasonList(); got[0] != "not a heroku logs line" {
		t.Errorf("reason order %v %v", got, sum.Reasons)
	}
}
