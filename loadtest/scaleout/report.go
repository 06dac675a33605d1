package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fhirkit/smart/internal/loadgen"
)

// runInfo is what the report says about the run besides its figures.
type runInfo struct {
	cfg            config
	killAt         time.Duration // since the start; 0 when no replica was killed
	restartAt      time.Duration
	readyAfter     time.Duration // from the restart to the first answer
	inFlightAtKill int64
	safeAtKill     int64  // of which GET or HEAD
	loadStart      string // load average at the start and at the end
	loadEnd        string
	proxy          []*backend
	people, back   *loadgen.Report
	checkTime      time.Duration
	// The replicas' CPU time (each restart's included), and the answers
	// they gave to requests sent directly, bypassing the proxy.
	cpu    []time.Duration
	direct int64
}

// writeReport prints the run as Markdown, ready to paste into
// docs/PERFORMANCE.md.
func writeReport(w io.Writer, info runInfo, phases []*phase, c counts, violations []string) {
	cfg := info.cfg
	title := "one replica, one PostgreSQL"
	if cfg.replicas > 1 {
		title = fmt.Sprintf("%d replicas, one PostgreSQL", cfg.replicas)
	}
	if k := cfg.killed(); k > 0 {
		title += fmt.Sprintf(", replica %d killed", k)
	}
	fmt.Fprintf(w, "### Scale-out run: %s\n\n", title)
	fmt.Fprintf(w, "- load: %d people (%d patients, %d clinicians) and %d backend services, each one loop; "+
		"one flow and one backend run in %d probed directly on the replicas\n",
		cfg.people, (cfg.people+1)/2, cfg.people/2, cfg.services, cfg.probeEvery)
	fmt.Fprintf(w, "- machine: %d CPUs, load average %s at the start and %s at the end\n",
		runtime.NumCPU(), info.loadStart, info.loadEnd)
	if k := cfg.killed(); k > 0 {
		fmt.Fprintf(w, "- SIGKILL of replica %d at %s, with requests in flight on it: %d (POST %d, GET %d); restarted at %s, answering %s later\n",
			k, sec(info.killAt), info.inFlightAtKill, info.inFlightAtKill-info.safeAtKill, info.safeAtKill,
			sec(info.restartAt), round3(info.readyAfter))
	}
	fmt.Fprintf(w, "- whole run: %s; %s; checks after the run took %s\n",
		whole("person flows", info.people), whole("backend runs", info.back), sec(info.checkTime))
	writeCPU(w, info, phases)
	fmt.Fprintln(w)

	fmt.Fprintln(w, "| phase | duration | person flows | per s | backend runs | per s | requests per s | requests per replica | failed flows | failed backend runs |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
	for _, p := range phases {
		var per []string
		for n := 1; n <= cfg.replicas; n++ {
			per = append(per, strconv.FormatInt(p.perReplica[n].Load(), 10))
		}
		flows, runs := p.flows.ok.Load(), p.backend.ok.Load()
		fmt.Fprintf(w, "| %s | %s | %d | %s | %d | %s | %s | %s | %d | %d |\n", p.name, sec(p.duration()),
			flows, p.rate(flows, "%.1f"), runs, p.rate(runs, "%.1f"), p.rate(p.answers.Load(), "%.0f"),
			strings.Join(per, " / "), p.flows.failed.Load(), p.backend.failed.Load())
	}

	fmt.Fprintln(w, "\nLatency per step, p50 / p99:")
	fmt.Fprintln(w)
	head, rule := "| step |", "|---|"
	for _, p := range phases {
		head += " " + p.name + " |"
		rule += "---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, s := range steps {
		row := "| " + s + " |"
		for _, p := range phases {
			l := p.latency[s]
			if l.Count() == 0 {
				row += " |"
				continue
			}
			row += fmt.Sprintf(" %s / %s |", round3(l.Quantile(0.5)), round3(l.Quantile(0.99)))
		}
		fmt.Fprintln(w, row)
	}

	writeErrors(w, phases)
	writeProxy(w, info.proxy)

	fmt.Fprintln(w, "\nInvariants:")
	fmt.Fprintln(w)
	for _, v := range verdicts(c) {
		mark := "PASS"
		if !v.pass {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "- **%s** %s: %s\n", mark, v.name, v.detail)
	}
	if len(violations) > 0 {
		fmt.Fprintln(w, "\nWhat broke (the first few):")
		fmt.Fprintln(w)
		for _, v := range violations {
			fmt.Fprintf(w, "- %s\n", cell(v))
		}
	}
}

func writeErrors(w io.Writer, phases []*phase) {
	fmt.Fprintln(w, "\nErrors by kind:")
	fmt.Fprintln(w)
	found := false
	for _, p := range phases {
		p.mu.Lock()
		kinds := make([]string, 0, len(p.errors))
		for k := range p.errors {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			if !found {
				fmt.Fprintln(w, "| phase | step: kind | count | first |")
				fmt.Fprintln(w, "|---|---|---:|---|")
				found = true
			}
			fmt.Fprintf(w, "| %s | %s | %d | %s |\n", p.name, k, p.errors[k], cell(p.samples[k]))
		}
		p.mu.Unlock()
	}
	if !found {
		fmt.Fprintln(w, "none.")
	}
}

func writeProxy(w io.Writer, backends []*backend) {
	fmt.Fprintln(w, "\nThe proxy, per replica (a request goes on to another replica only when its connection was refused or it is a GET; a POST that reached a replica that died is answered 502, lost):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| replica | answers relayed | POSTs lost (502) | of which sent after the SIGKILL | GETs repeated elsewhere | connections refused, sent elsewhere |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for _, b := range backends {
		fmt.Fprintf(w, "| %d | %d | %d | %d | %d | %d |\n", b.n, b.served.Load(), b.lost.Load(), b.lostAfterKill.Load(),
			b.repeated.Load(), b.refusedDials.Load())
	}
}

// rate is n per second of p, or a dash for the drain, whose flows
// started in the phase before it.
func (p *phase) rate(n int64, format string) string {
	if p.name == drainPhase || p.duration() <= 0 {
		return "–"
	}
	return fmt.Sprintf(format, float64(n)/p.duration().Seconds())
}

// writeCPU says how much CPU the replicas used for the answers they
// gave, which the machine's other load disturbs less than the rates.
func writeCPU(w io.Writer, info runInfo, phases []*phase) {
	var all time.Duration
	var each []string
	for _, d := range info.cpu {
		all += d
		each = append(each, sec(d))
	}
	if all <= 0 {
		return
	}
	var proxied int64
	for _, p := range phases {
		proxied += p.answers.Load()
	}
	answers := proxied + info.direct
	fmt.Fprintf(w, "- the replicas' CPU time (user + system, start-up and checks included; PostgreSQL's not): %s (%s) for %d answers "+
		"(%d through the proxy, %d direct): %.0f answers per CPU-second, %s of CPU per answer\n",
		sec(all), strings.Join(each, " / "), answers, proxied, info.direct,
		float64(answers)/all.Seconds(), round3(all/time.Duration(max(answers, 1))))
}

func whole(what string, r *loadgen.Report) string {
	if r == nil {
		return what + ": none"
	}
	return fmt.Sprintf("%d %s (%.1f/s, p50 %s, p99 %s each)", r.Requests, what, r.RequestsPerSecond(), round3(r.P50), round3(r.P99))
}

// cell makes text safe for one Markdown table cell, and short.
func cell(s string) string {
	const keep = 160
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > keep {
		s = s[:keep] + "…"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

func sec(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// round3 keeps three significant figures, enough to read a latency.
func round3(d time.Duration) time.Duration {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit)
		}
	}
	return d.Round(time.Second)
}

// loadAverage is the one-minute load average, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}
