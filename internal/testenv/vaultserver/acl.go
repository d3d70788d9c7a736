package vaultserver

import (
	"regexp"
	"slices"
	"strings"
)

// The ACL, as https://developer.hashicorp.com/vault/docs/concepts/policies documents it:
//
//   - a token's policies are merged per path pattern: their capabilities are united, and a
//     pattern that any of them denies is denied;
//   - a request path takes the capabilities of one pattern: the exact one when there is one,
//     else the highest-priority pattern with `*` (a trailing glob: a prefix) or `+` (exactly
//     one segment) that matches, by the documented priority rules, in order: the pattern
//     whose first wildcard comes later wins; one not ending in `*` beats one that does; fewer
//     `+` segments win; the longer wins; the lexicographically larger wins;
//   - no matching pattern is no capability ("deny"); a root token may do everything.

type pattern struct {
	text      string
	re        *regexp.Regexp
	exact     bool
	firstWild int
	glob      bool
	plus      int
}

func compile(p string) pattern {
	pt := pattern{text: p, firstWild: len(p)}
	if i := strings.IndexAny(p, "+*"); i >= 0 {
		pt.firstWild = i
	}
	pt.glob = strings.HasSuffix(p, "*")
	body := strings.TrimSuffix(p, "*")
	segs := strings.Split(body, "/")
	for i, s := range segs {
		if s == "+" {
			segs[i] = "[^/]+"
			pt.plus++
		} else {
			segs[i] = regexp.QuoteMeta(s)
		}
	}
	expr := "^" + strings.Join(segs, "/")
	if pt.glob {
		expr += ".*"
	}
	pt.re = regexp.MustCompile(expr + "$")
	pt.exact = !pt.glob && pt.plus == 0
	return pt
}

// higher reports whether a has priority over b (both match, neither exact).
func higher(a, b pattern) bool {
	if a.firstWild != b.firstWild {
		return a.firstWild > b.firstWild
	}
	if a.glob != b.glob {
		return !a.glob
	}
	if a.plus != b.plus {
		return a.plus < b.plus
	}
	if len(a.text) != len(b.text) {
		return len(a.text) > len(b.text)
	}
	return a.text > b.text
}

// capabilities are what tok may do on path (relative to namespace ns), sorted; ["deny"] for
// nothing, ["root"] for a root token.
func (s *Server) capabilities(tok *token, ns, path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.capsLocked(tok, ns, path)
}

func (s *Server) capsLocked(tok *token, ns, path string) []string {
	if tok == nil {
		return []string{"deny"}
	}
	if tok.root {
		return []string{"root"}
	}
	merged := map[string][]string{}
	for _, name := range tok.policies {
		for p, caps := range s.policies[tok.ns+"|"+name] {
			cur := merged[p]
			if slices.Contains(cur, "deny") || slices.Contains(caps, "deny") {
				merged[p] = []string{"deny"}
				continue
			}
			for _, c := range caps {
				if !slices.Contains(cur, c) {
					cur = append(cur, c)
				}
			}
			merged[p] = cur
		}
	}
	var best *pattern
	for p := range merged {
		pt := compile(p)
		if !pt.re.MatchString(path) {
			continue
		}
		switch {
		case best == nil:
			best = &pt
		case pt.exact && !best.exact:
			best = &pt
		case !pt.exact && !best.exact && higher(pt, *best):
			best = &pt
		}
	}
	if best == nil {
		return []string{"deny"}
	}
	caps := merged[best.text]
	if len(caps) == 0 || slices.Contains(caps, "deny") {
		return []string{"deny"}
	}
	return sorted(caps)
}

// allowed reports whether tok may do capability c on path; the default policy's
// self-service paths are always allowed.
func (s *Server) allowed(tok *token, ns, path, c string) bool {
	caps := s.capabilities(tok, ns, path)
	return slices.Contains(caps, "root") || slices.Contains(caps, c)
}
