package scan

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Target is one endpoint to scan.
type Target struct {
	Host string // a name or an IP address, without brackets
	Port int
	// ServerName is the SNI to send and the name the chain must be valid for; "" means Host.
	ServerName string
	// FromRange is set for a port that came from a host:port-range: a closed port there is
	// an expected finding, not a failure of the scan.
	FromRange bool
	// Source says where the target was written ("arg 2", "targets.txt:14"), for errors.
	Source string
}

// Address is host:port, with brackets around an IPv6 address.
func (t Target) Address() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// SNI is the server name sent and verified.
func (t Target) SNI() string {
	if t.ServerName != "" {
		return t.ServerName
	}
	return t.Host
}

// MaxTargets bounds how many endpoints one parse may expand to: a typo such as 1-65535 on a
// /24 of names should be an error, not a scan of hours.
const MaxTargets = 1 << 20

// ParseTargets expands target specifications into targets, in order:
//
//	host:port           one endpoint; IPv6 as [::1]:443
//	host:port-port      every port of the range, both ends included
//	@file               the targets of a file, one spec per line; # starts a comment
//
// readFile reads @file arguments (os.ReadFile when nil). Every bad spec is reported, with
// where it was written.
func ParseTargets(specs []string, readFile func(string) ([]byte, error)) ([]Target, error) {
	if readFile == nil {
		readFile = os.ReadFile
	}
	var out []Target
	var errs []string
	for i, s := range specs {
		src := fmt.Sprintf("argument %d", i+1)
		if name, ok := strings.CutPrefix(s, "@"); ok {
			data, err := readFile(name)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: cannot read the targets file: %v", s, err))
				continue
			}
			ts, fileErrs := parseFile(name, data)
			out = append(out, ts...)
			errs = append(errs, fileErrs...)
		} else {
			ts, err := ParseSpec(s)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", src, err))
			}
			for j := range ts {
				ts[j].Source = src
			}
			out = append(out, ts...)
		}
		if len(out) > MaxTargets {
			return nil, fmt.Errorf("more than %d targets: scan fewer ports or hosts at once", MaxTargets)
		}
	}
	if len(errs) > 0 {
		return nil, &TargetError{Problems: errs}
	}
	return out, nil
}

// TargetError lists every bad target specification.
type TargetError struct{ Problems []string }

func (e *TargetError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	return fmt.Sprintf("%d bad targets:\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

func parseFile(name string, data []byte) ([]Target, []string) {
	var out []Target
	var errs []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		src := fmt.Sprintf("%s:%d", name, n)
		ts, err := ParseSpec(line)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", src, err))
			continue
		}
		for j := range ts {
			ts[j].Source = src
		}
		out = append(out, ts...)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Sprintf("%s: %v", name, err))
	}
	return out, errs
}

// ParseSpec parses one host:port or host:port-port.
func ParseSpec(s string) ([]Target, error) {
	if s == "" {
		return nil, fmt.Errorf("empty target: want host:port, host:port-port or @file")
	}
	var host, ports string
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return nil, fmt.Errorf("%q: missing ] after the IPv6 address", s)
		}
		host = s[1:end]
		rest := s[end+1:]
		if !strings.HasPrefix(rest, ":") || len(rest) == 1 {
			return nil, fmt.Errorf("%q: missing port: want [%s]:PORT", s, host)
		}
		ports = rest[1:]
		if net.ParseIP(host) == nil {
			return nil, fmt.Errorf("%q: %q between brackets is not an IPv6 address", s, host)
		}
	} else {
		i := strings.LastIndexByte(s, ':')
		if i < 0 {
			return nil, fmt.Errorf("%q: missing port: want host:port, host:port-port, or @file for a file of targets", s)
		}
		host, ports = s[:i], s[i+1:]
		if strings.Contains(host, ":") {
			return nil, fmt.Errorf("%q: an IPv6 address needs brackets: [%s]:%s", s, host, ports)
		}
		if host == "" {
			return nil, fmt.Errorf("%q: missing host", s)
		}
		if ports == "" {
			return nil, fmt.Errorf("%q: missing port after the colon", s)
		}
	}
	if strings.ContainsAny(host, " \t/") {
		return nil, fmt.Errorf("%q: %q is not a host name or address", s, host)
	}
	lo, hi, isRange, err := parsePorts(ports)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", s, err)
	}
	out := make([]Target, 0, hi-lo+1)
	for p := lo; p <= hi; p++ {
		out = append(out, Target{Host: host, Port: p, FromRange: isRange})
	}
	return out, nil
}

func parsePorts(s string) (lo, hi int, isRange bool, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parsePort(a); err != nil {
		return 0, 0, false, err
	}
	if !isRange {
		return lo, lo, false, nil
	}
	if hi, err = parsePort(b); err != nil {
		return 0, 0, false, err
	}
	if hi < lo {
		return 0, 0, false, fmt.Errorf("port range %s ends before it starts (write %d-%d)", s, hi, lo)
	}
	return lo, hi, true, nil
}

func parsePort(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("missing port number")
	}
	n, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("port %q is not a number", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d is out of range 1-65535", n)
	}
	return n, nil
}
