package lockfile

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecondAcquireNamesTheHolder(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	l, err := Acquire(db, Holder{Command: "serve", ImportURL: "http://127.0.0.1:1/import"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(db, Holder{Command: "import"})
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: %v", err)
	}
	if held.Holder.PID != l.Holder().PID || held.Holder.ImportURL != "http://127.0.0.1:1/import" {
		t.Errorf("holder %+v, want %+v", held.Holder, l.Holder())
	}
	msg := err.Error()
	for _, want := range []string{db, "drainwatch serve", "pid ", " on ", " since "} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(db, Holder{Command: "import"})
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
}
