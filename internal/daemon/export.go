package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Exporter writes metrics out after each run: to a node_exporter textfile and/or a
// Pushgateway. The zero value and nil export nothing.
type Exporter struct {
	file   string
	push   string // with its scheme
	log    *slog.Logger
	redact func(string) string
}

// NewExporter checks the destinations before anything runs, so that a typo fails at once
// and not after an hour-long backup. file or push may be empty. redact hides secrets (a
// Pushgateway URL may hold a password) in what it logs.
func NewExporter(file, pushURL string, log *slog.Logger, redact func(string) string) (*Exporter, error) {
	e := &Exporter{file: file, log: log, redact: redact}
	if file != "" {
		dir := filepath.Dir(file)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("metrics file %s: the directory %s does not exist", file, dir)
		}
	}
	if pushURL != "" {
		raw := pushURL
		if !strings.Contains(raw, "://") {
			raw = "http://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("pushgateway %s: want a URL like http://pushgateway:9091", redact(pushURL))
		}
		e.push = raw
	}
	return e, nil
}

// PushURL is the Pushgateway's URL with its scheme ("" for none), to register as a secret.
func (e *Exporter) PushURL() string {
	if e == nil {
		return ""
	}
	return e.push
}

// Export writes and pushes the metrics of reg, whose operation and database labels are
// labels. Failures are logged, not returned: they must not turn a good backup into a failed
// one.
func (e *Exporter) Export(ctx context.Context, reg *prometheus.Registry, labels prometheus.Labels) {
	if e == nil {
		return
	}
	if e.file != "" {
		// WriteToTextfile writes a temporary file beside the target and renames it, so
		// node_exporter never reads half a file; the temporary name does not end in .prom.
		if err := prometheus.WriteToTextfile(e.file, reg); err != nil {
			e.log.Error("could not write the metrics file", "path", e.file, "error", e.redact(err.Error()))
		} else {
			e.log.Debug("metrics file written", "path", e.file)
		}
	}
	if e.push != "" {
		e.pushTo(ctx, reg, labels)
	}
}

func (e *Exporter) pushTo(ctx context.Context, reg *prometheus.Registry, labels prometheus.Labels) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// POST (Add), not PUT: metrics this run does not have — the last success after a
	// failure — stay in the Pushgateway from the run that had them.
	p := push.New(e.push, "mongostash").
		Grouping("operation", labels["operation"]).
		Grouping("database", labels["database"]).
		Gatherer(withoutLabels{reg, []string{"operation", "database"}}).
		Format(expfmt.NewFormat(expfmt.TypeTextPlain)).
		Client(&http.Client{Timeout: 30 * time.Second})
	if err := p.AddContext(ctx); err != nil {
		e.log.Error("could not push the metrics", "pushgateway", e.redact(e.push), "error", e.redact(err.Error()))
	} else {
		e.log.Debug("metrics pushed", "pushgateway", e.redact(e.push))
	}
}

// withoutLabels drops labels that the Pushgateway's grouping key already carries: it
// refuses metrics that repeat them.
type withoutLabels struct {
	g    prometheus.Gatherer
	drop []string
}

func (w withoutLabels) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := w.g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	for _, mf := range mfs {
		for _, metric := range mf.Metric {
			kept := metric.Label[:0]
			for _, l := range metric.Label {
				if !slices.Contains(w.drop, l.GetName()) {
					kept = append(kept, l)
				}
			}
			metric.Label = kept
		}
	}
	return mfs, nil
}
