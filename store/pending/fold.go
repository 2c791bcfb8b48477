package pending

import (
	"bytes"
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
)

// OtherPaths is the path template of the router lines folded by a Folder:
// one rollup row per app, minute or hour, dyno and status class holds them,
// counted exactly. It is not "(other)", the key of a query's row summing
// the groups beyond its top ones, so the two never mix up.
const OtherPaths = "(other paths)"

// MaxTemplate is the longest path template a Folder gives its own rollup
// rows; longer ones fold into OtherPaths.
const MaxTemplate = 512

// DefaultMaxPaths is a Folder's default limit of distinct path templates
// per app and hour.
const DefaultMaxPaths = 1000

// Folder bounds the path templates of the rollups: per app and hour, at
// most MaxPaths distinct templates get rollup rows of their own; the router
// lines of any other template fold into OtherPaths (one row per status
// class), counted exactly. Which templates get rows: the ones already
// given rows this hour; the app's established templates (seen on two lines
// or more the hour before, busiest first), always, as room is kept for
// them; then new ones, first come, in the room left. So the app's real
// routes keep their rows while bots fill the tail with random paths.
//
// A Folder keeps its state in memory, per process: each daemon on a
// database folds on its own, and a restart starts with no established
// templates. It is safe for concurrent use; Encode calls it once a batch.
type Folder struct {
	max int

	mu   sync.Mutex
	apps map[string]*appPaths

	// Folded counts router lines whose path was folded into OtherPaths.
	Folded atomic.Int64
}

// appPaths is one app's templates: those with rows in hour, and the
// established ones from the hour before.
type appPaths struct {
	hour       int64            // Unix seconds of the hour's start
	seen       map[string]int64 // templates with rows this hour: lines
	kept       map[string]bool  // established templates; true once seen this hour
	keptUnseen int              // established templates not seen yet this hour
}

// NewFolder returns a Folder giving at most maxPaths templates per app and
// hour rows of their own (DefaultMaxPaths when maxPaths <= 0).
func NewFolder(maxPaths int) *Folder {
	if maxPaths <= 0 {
		maxPaths = DefaultMaxPaths
	}
	return &Folder{max: maxPaths, apps: map[string]*appPaths{}}
}

// MaxPaths is the limit of distinct templates per app and hour.
func (f *Folder) MaxPaths() int { return f.max }

// foldKey is one template of a batch in one hour, with its lines.
type foldKey struct {
	path  uint64 // index in the batch's strings
	hour  int64
	lines int64
}

// fold decides, for each key of one batch of app, whether its lines fold
// (true in out). strs are the batch's strings.
func (f *Folder) fold(app string, keys []foldKey, strs []string, out []bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.apps[app]
	if st == nil {
		st = &appPaths{seen: map[string]int64{}}
		f.apps[app] = st
	}
	var folded int64
	for i, k := range keys {
		t := strs[k.path]
		out[i] = st.fold(t, k.hour, k.lines, f.max)
		if out[i] {
			folded += k.lines
		}
	}
	f.Folded.Add(folded)
}

// fold decides for lines of template t in hour, and counts them in.
func (st *appPaths) fold(t string, hour, lines int64, max int) bool {
	if len(t) > MaxTemplate {
		return true
	}
	if hour > st.hour {
		st.rotate(hour, max)
	}
	if hour < st.hour {
		// A late line, for an hour gone by: its template has a row if it
		// had one then or is established; new ones fold.
		_, ok := st.seen[t]
		if !ok {
			_, ok = st.kept[t]
		}
		return !ok
	}
	if _, ok := st.seen[t]; ok {
		st.seen[t] += lines
		return false
	}
	if seen, ok := st.kept[t]; ok && !seen {
		st.kept[t] = true
		st.keptUnseen--
		st.seen[t] = lines
		return false
	}
	if len(st.seen)+st.keptUnseen < max {
		st.seen[t] = lines
		return false
	}
	return true
}

// rotate starts a new hour: the templates of the last hour with lines
// seen on two lines or more, busiest first, up to max, are the established
// ones.
func (st *appPaths) rotate(hour int64, max int) {
	if len(st.seen) > 0 {
		type tc struct {
			t string
			n int64
		}
		var busy []tc
		for t, n := range st.seen {
			if n >= 2 {
				busy = append(busy, tc{t, n})
			}
		}
		slices.SortFunc(busy, func(a, b tc) int {
			if c := cmp.Compare(b.n, a.n); c != 0 {
				return c
			}
			return cmp.Compare(a.t, b.t)
		})
		busy = busy[:min(len(busy), max)]
		st.kept = make(map[string]bool, len(busy))
		for _, x := range busy {
			st.kept[x.t] = false
		}
		st.seen = make(map[string]int64, len(st.seen))
	}
	for t := range st.kept {
		st.kept[t] = false
	}
	st.keptUnseen = len(st.kept)
	st.hour = hour
}

// oneOffTypes are the process types of one-off dynos (`heroku run`,
// Heroku Scheduler, the release phase, Heroku CI): each run is a new dyno
// name, so their router rollups go by process type.
var oneOffTypes = [][]byte{[]byte("run"), []byte("scheduler"), []byte("release"), []byte("test"), []byte("postdeploy")}

// RollupDyno is the dyno a router line is rolled up under: the process type
// of a one-off dyno (run.2660 → run), any other dyno as it is. Memory
// samples and errors keep the dyno's name.
func RollupDyno(dyno []byte) []byte {
	i := bytes.IndexByte(dyno, '.')
	if i <= 0 || i == len(dyno)-1 {
		return dyno
	}
	for _, c := range dyno[i+1:] {
		if c < '0' || c > '9' {
			return dyno
		}
	}
	for _, t := range oneOffTypes {
		if bytes.Equal(dyno[:i], t) {
			return dyno[:i]
		}
	}
	return dyno
}
