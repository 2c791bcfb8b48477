package store

import "sort"

// FoldDynos returns ds, an answer of DB.Dynos with a limit of n or more (or
// none), as Dynos answers with a limit of n: the n dynos with memory samples
// that have the highest peak (ties by app, then dyno) as they are, and the
// others summed into their app's OtherDynos row (how many, first and last
// seen, peak, R14/R15), after the app's dynos, or at the end, by app, for an
// app none of whose dynos are listed. Dynos without memory samples are kept
// as they are: Dynos lists n of them at most, chosen by their R14/R15 and
// then all their errors, which ds does not say; the charts of the
// dashboard, which fold a longer list (api.Local.SharedDynos), draw none of
// them.
func FoldDynos(ds []DynoSummary, n int) []DynoSummary {
	var ranked []DynoSummary
	for _, d := range ds {
		if !d.NoMemorySamples && d.Dyno != OtherDynos {
			ranked = append(ranked, d)
		}
	}
	if len(ranked) <= n {
		return ds
	}
	sort.SliceStable(ranked, func(i, j int) bool {
		pi, pj := peakOf(ranked[i]), peakOf(ranked[j])
		if pi != pj {
			return pi > pj
		}
		if ranked[i].App != ranked[j].App {
			return ranked[i].App < ranked[j].App
		}
		return ranked[i].Dyno < ranked[j].Dyno
	})
	others := map[string]DynoSummary{}
	for _, d := range ds {
		if d.Dyno == OtherDynos {
			others[d.App] = d
		}
	}
	folded := map[[2]string]bool{}
	for _, d := range ranked[n:] {
		folded[[2]string{d.App, d.Dyno}] = true
		o, ok := others[d.App]
		if !ok {
			o = DynoSummary{App: d.App, Dyno: OtherDynos, First: d.First, Boots: []BootSummary{}}
		}
		o.Dynos++
		o.Errors += d.Errors
		if d.First.Before(o.First) {
			o.First = d.First
		}
		if d.Last.After(o.Last) {
			o.Last = d.Last
		}
		if d.PeakMB != nil && (o.PeakMB == nil || *d.PeakMB > *o.PeakMB) {
			o.PeakMB = d.PeakMB
		}
		others[d.App] = o
	}
	var out []DynoSummary
	for _, d := range ds {
		if d.Dyno == OtherDynos || folded[[2]string{d.App, d.Dyno}] {
			continue
		}
		out = append(out, d)
	}
	return WithOthers(out, others)
}

// ListDynos is a backend's Dynos answer: the dynos with memory samples
// (by app and dyno), those with only error lines among them, and each
// app's OtherDynos row after its dynos (WithOthers); never nil.
func ListDynos(listed, silent []DynoSummary, others map[string]DynoSummary) []DynoSummary {
	out := listed
	if len(silent) > 0 {
		out = append(out, silent...)
		sort.SliceStable(out, func(i, j int) bool {
			if out[i].App != out[j].App {
				return out[i].App < out[j].App
			}
			return out[i].Dyno < out[j].Dyno
		})
	}
	if len(others) > 0 {
		out = WithOthers(out, others)
	}
	if out == nil {
		out = []DynoSummary{}
	}
	return out
}

// WithOthers puts each app's OtherDynos row (others, by app) after that
// app's dynos in ds (grouped by app), and the rows of apps none of whose
// dynos are in ds at the end, by app. It empties others.
func WithOthers(ds []DynoSummary, others map[string]DynoSummary) []DynoSummary {
	var merged []DynoSummary
	for i, d := range ds {
		merged = append(merged, d)
		if i+1 == len(ds) || ds[i+1].App != d.App {
			if o, ok := others[d.App]; ok {
				merged = append(merged, o)
				delete(others, d.App)
			}
		}
	}
	apps := make([]string, 0, len(others))
	for app := range others {
		apps = append(apps, app)
	}
	sort.Strings(apps)
	for _, app := range apps {
		merged = append(merged, others[app])
		delete(others, app)
	}
	return merged
}

// peakOf is d's peak for ranking: a dyno without one (no total in its
// samples) after every other, as the backends order them (NULLS LAST).
func peakOf(d DynoSummary) float64 {
	if d.PeakMB == nil {
		return -1
	}
	return *d.PeakMB
}
