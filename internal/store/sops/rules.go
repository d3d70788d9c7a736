package sops

import (
	"fmt"
	"regexp"
	"strings"
)

// rules are a file's encryption rules, as sops records them in its metadata when the file is
// first encrypted (from .sops.yaml or flags): which values it encrypts. rotor needs to know
// ahead where its entries land, so that a value never goes into a place the file keeps in
// clear, and its version list does.
type rules struct {
	unencSuffix, encSuffix string
	unencRegex, encRegex   *regexp.Regexp
	// byComment: the file decides by comments (unencrypted_comment_regex or
	// encrypted_comment_regex). rotor writes no comments, so it cannot place its entries
	// under such rules and refuses the file.
	byComment string
	// macOnlyEncrypted: the MAC covers only encrypted values, so the version list, kept in
	// clear, is not covered by it.
	macOnlyEncrypted bool
}

func newRules(unencSuffix, encSuffix, unencRegex, encRegex, unencComment, encComment string, macOnly bool) (rules, error) {
	r := rules{unencSuffix: unencSuffix, encSuffix: encSuffix, macOnlyEncrypted: macOnly}
	var err error
	if unencRegex != "" {
		if r.unencRegex, err = regexp.Compile(unencRegex); err != nil {
			return r, fmt.Errorf("its unencrypted_regex does not compile: %v", err)
		}
	}
	if encRegex != "" {
		if r.encRegex, err = regexp.Compile(encRegex); err != nil {
			return r, fmt.Errorf("its encrypted_regex does not compile: %v", err)
		}
	}
	switch {
	case unencComment != "":
		r.byComment = "unencrypted_comment_regex"
	case encComment != "":
		r.byComment = "encrypted_comment_regex"
	}
	return r, nil
}

// encrypted says whether sops encrypts the value at path, with the same rule as sops's
// Tree.shouldBeEncrypted (sops.go): every element of the path counts, and each rule set
// overrides the ones before it.
func (r rules) encrypted(path []string) bool {
	enc := true
	if r.unencSuffix != "" {
		for _, p := range path {
			if strings.HasSuffix(p, r.unencSuffix) {
				enc = false
				break
			}
		}
	}
	if r.encSuffix != "" {
		enc = false
		for _, p := range path {
			if strings.HasSuffix(p, r.encSuffix) {
				enc = true
				break
			}
		}
	}
	if r.unencRegex != nil {
		for _, p := range path {
			if r.unencRegex.MatchString(p) {
				enc = false
				break
			}
		}
	}
	if r.encRegex != nil {
		enc = false
		for _, p := range path {
			if r.encRegex.MatchString(p) {
				enc = true
				break
			}
		}
	}
	return enc
}

// String names the rule that decides, for messages.
func (r rules) String() string {
	switch {
	case r.byComment != "":
		return r.byComment
	case r.encRegex != nil:
		return fmt.Sprintf("encrypted_regex %q", r.encRegex)
	case r.unencRegex != nil:
		return fmt.Sprintf("unencrypted_regex %q", r.unencRegex)
	case r.encSuffix != "":
		return fmt.Sprintf("encrypted_suffix %q", r.encSuffix)
	case r.unencSuffix != "":
		return fmt.Sprintf("unencrypted_suffix %q", r.unencSuffix)
	}
	return "no rule (every value encrypted)"
}
