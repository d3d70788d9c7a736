package builtin

import (
	checkexec "github.com/rotorhq/rotor/internal/check/exec"
	checkhttp "github.com/rotorhq/rotor/internal/check/http"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

var checks = map[string]func() any{
	"http":           mk[checkhttp.Config](),
	"exec":           mk[checkexec.Config](),
	"log":            mk[LogCheck](),
	"tls":            mk[TLSCheck](),
	"promql":         mk[PromQLCheck](),
	"postgres-login": mk[PostgresLoginCheck](),
	"logsql":         mk[LogsQLCheck](),
	"loki":           mk[LokiCheck](),
	"kql":            mk[KQLCheck](),
}

// LogCheck counts matching lines of a log by time bin and compares them with thresholds.
type LogCheck struct {
	Source      LogSource     `yaml:"source" rotor:"required"`
	Match       LogMatch      `yaml:"match"`
	Bin         time.Duration `yaml:"bin" doc:"Time bin width (default 5m)."`
	Window      time.Duration `yaml:"window" doc:"How far back from now to look (default: since cutover)."`
	By          []string      `yaml:"by" doc:"Fields to group counts by (host, path, status)."`
	Max         *int          `yaml:"max" doc:"Highest count allowed in any bin."`
	MaxRate     float64       `yaml:"max_rate" doc:"Highest matching fraction of all lines in any bin."`
	MaxIncrease float64       `yaml:"max_increase" doc:"Highest ratio against the same-length window before cutover."`
}

// LogSource says where log lines come from and how to read them.
type LogSource struct {
	Type    string            `yaml:"type" rotor:"required,enum=file" doc:"Only local files for now."`
	Path    string            `yaml:"path" rotor:"required" doc:"File or glob; rotated and gzipped files are read."`
	Format  string            `yaml:"format" rotor:"required,enum=combined|json|regexp"`
	Pattern string            `yaml:"pattern" doc:"For format regexp: named groups time, status, path, host, key_id."`
	Fields  map[string]string `yaml:"fields" doc:"For format json: rotor field -> JSON field."`
}

// LogMatch selects the lines that count.
type LogMatch struct {
	Status []int    `yaml:"status"`
	Paths  []string `yaml:"paths"`
	Hosts  []string `yaml:"hosts"`
	KeyID  string   `yaml:"key_id" doc:"previous or current: lines that used that version's key id."`
}

func (l *LogCheck) Validate() []provider.FieldError {
	var out []provider.FieldError
	if l.Max == nil && l.MaxRate == 0 && l.MaxIncrease == 0 {
		out = append(out, provider.FieldError{Field: "max", Msg: "a log check needs a threshold: max, max_rate or max_increase"})
	}
	if l.Source.Format == "regexp" && l.Source.Pattern == "" {
		out = append(out, provider.FieldError{Field: "source", Msg: "format regexp needs a pattern"})
	}
	if l.Match.KeyID != "" && l.Match.KeyID != "previous" && l.Match.KeyID != "current" {
		out = append(out, provider.FieldError{Field: "match", Msg: "key_id is previous or current"})
	}
	return out
}

// TLSCheck reads the certificate an endpoint serves.
type TLSCheck struct {
	Address    string `yaml:"address" rotor:"required" doc:"host:port"`
	ServerName string `yaml:"server_name" doc:"SNI (default: the host)."`
	CAFile     string `yaml:"ca_file" doc:"Trust bundle the chain must verify against."`
	Expect     string `yaml:"expect" rotor:"enum=current|previous" doc:"Which version must be served (default current)."`
}

// PromQLCheck evaluates a PromQL expression against thresholds.
type PromQLCheck struct {
	URL   string        `yaml:"url" rotor:"required" doc:"Prometheus base URL."`
	Query string        `yaml:"query" rotor:"required"`
	Range time.Duration `yaml:"range" doc:"Evaluate over this range (default: instant query)."`
	Max   *float64      `yaml:"max"`
	Min   *float64      `yaml:"min"`
}

func (p *PromQLCheck) Validate() []provider.FieldError {
	if p.Max == nil && p.Min == nil {
		return []provider.FieldError{{Field: "query", Msg: "a promql check needs a threshold: max or min"}}
	}
	return nil
}

// PostgresLoginCheck logs in as a consumer would and runs a query.
type PostgresLoginCheck struct {
	Host     string `yaml:"host" rotor:"required"`
	Port     int    `yaml:"port" doc:"Default 5432."`
	Database string `yaml:"database" rotor:"required"`
	SSLMode  string `yaml:"sslmode" rotor:"enum=disable|require|verify-ca|verify-full" doc:"Default verify-full."`
	Query    string `yaml:"query" doc:"Default SELECT 1."`
}

// LogsQLCheck queries VictoriaLogs.
type LogsQLCheck struct {
	URL   string `yaml:"url" rotor:"required"`
	Query string `yaml:"query" rotor:"required"`
	Max   int    `yaml:"max"`
}

// LokiCheck runs a LogQL metric query against Loki's HTTP API.
type LokiCheck struct {
	URL   string  `yaml:"url" rotor:"required"`
	Query string  `yaml:"query" rotor:"required"`
	Max   float64 `yaml:"max"`
}

// KQLCheck queries an Azure Monitor Log Analytics workspace.
type KQLCheck struct {
	WorkspaceID string        `yaml:"workspace_id" rotor:"required"`
	Table       string        `yaml:"table" rotor:"required" doc:"e.g. AppServiceHTTPLogs"`
	Status      []int         `yaml:"status" doc:"ScStatus values that count."`
	By          []string      `yaml:"by" doc:"Columns to group by (CsHost, CsUriStem, ScStatus)."`
	Bin         time.Duration `yaml:"bin" doc:"Default 5m."`
	Max         int           `yaml:"max"`
}
