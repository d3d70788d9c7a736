package sops

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"filippo.io/age"
	"go.yaml.in/yaml/v3"
)

// maxFile bounds what is read of a SOPS file: a file of secrets, never megabytes.
const maxFile = 8 << 20

// document is what rotor reads of a SOPS file without decrypting anything: the shape of the
// tree (encrypted values are "ENC[AES256_GCM,…]" strings, values left in clear are as they
// are), and sops's metadata — the age recipients and the rules that decide which values are
// encrypted.
type document struct {
	format string
	tree   map[string]any    // yaml and json
	flat   map[string]string // dotenv
	meta   sopsMetadata
}

// sopsMetadata is the part of a file's `sops` block rotor uses.
type sopsMetadata struct {
	// Recipients are the age recipients the data key is encrypted to, in the file's order
	// (key groups included); other key types (PGP, KMS) are kept by sops and not used by rotor.
	Recipients []string
	Other      int // master keys of other types
	rules
	Version string
}

// sopsBlock is the `sops` block of a yaml or json file.
type sopsBlock struct {
	Age       []ageEntry `yaml:"age" json:"age"`
	KeyGroups []struct {
		Age []ageEntry `yaml:"age" json:"age"`
		PGP []any      `yaml:"pgp" json:"pgp"`
		KMS []any      `yaml:"kms" json:"kms"`
	} `yaml:"key_groups" json:"key_groups"`
	PGP                     []any  `yaml:"pgp" json:"pgp"`
	KMS                     []any  `yaml:"kms" json:"kms"`
	GCPKMS                  []any  `yaml:"gcp_kms" json:"gcp_kms"`
	AzureKV                 []any  `yaml:"azure_kv" json:"azure_kv"`
	HCVault                 []any  `yaml:"hc_vault" json:"hc_vault"`
	UnencryptedSuffix       string `yaml:"unencrypted_suffix" json:"unencrypted_suffix"`
	EncryptedSuffix         string `yaml:"encrypted_suffix" json:"encrypted_suffix"`
	UnencryptedRegex        string `yaml:"unencrypted_regex" json:"unencrypted_regex"`
	EncryptedRegex          string `yaml:"encrypted_regex" json:"encrypted_regex"`
	UnencryptedCommentRegex string `yaml:"unencrypted_comment_regex" json:"unencrypted_comment_regex"`
	EncryptedCommentRegex   string `yaml:"encrypted_comment_regex" json:"encrypted_comment_regex"`
	MACOnlyEncrypted        bool   `yaml:"mac_only_encrypted" json:"mac_only_encrypted"`
	Version                 string `yaml:"version" json:"version"`
}

type ageEntry struct {
	Recipient string `yaml:"recipient" json:"recipient"`
}

func (b *sopsBlock) metadata() (sopsMetadata, error) {
	m := sopsMetadata{Version: b.Version}
	add := func(es []ageEntry) {
		for _, e := range es {
			r := strings.TrimSpace(e.Recipient)
			if p, err := age.ParseX25519Recipient(r); err == nil {
				r = p.String()
			}
			m.Recipients = append(m.Recipients, r)
		}
	}
	add(b.Age)
	m.Other = len(b.PGP) + len(b.KMS) + len(b.GCPKMS) + len(b.AzureKV) + len(b.HCVault)
	for _, g := range b.KeyGroups {
		add(g.Age)
		m.Other += len(g.PGP) + len(g.KMS)
	}
	r, err := newRules(b.UnencryptedSuffix, b.EncryptedSuffix, b.UnencryptedRegex, b.EncryptedRegex,
		b.UnencryptedCommentRegex, b.EncryptedCommentRegex, b.MACOnlyEncrypted)
	m.rules = r
	return m, err
}

// parseDocument reads an encrypted file of the format. An error says what is wrong without
// quoting the file.
func parseDocument(format string, raw []byte) (*document, error) {
	d := &document{format: format}
	var block *sopsBlock
	switch format {
	case formatYAML:
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&d.tree); err != nil {
			return nil, fmt.Errorf("not a YAML document: %s", yamlLine(err))
		}
		var more any
		if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
			return nil, errors.New("holds several YAML documents: rotor keeps values in single-document files")
		}
		var top struct {
			Sops *sopsBlock `yaml:"sops"`
		}
		if err := yaml.Unmarshal(raw, &top); err != nil {
			return nil, fmt.Errorf("its sops block does not read: %s", yamlLine(err))
		}
		block = top.Sops
	case formatJSON:
		if err := json.Unmarshal(raw, &d.tree); err != nil {
			return nil, errors.New("not a JSON object")
		}
		var top struct {
			Sops *sopsBlock `json:"sops"`
		}
		if err := json.Unmarshal(raw, &top); err != nil {
			return nil, errors.New("its sops block does not read")
		}
		block = top.Sops
	case formatDotenv:
		flat, err := parseDotenv(raw)
		if err != nil {
			return nil, err
		}
		d.flat = flat
		block, err = dotenvBlock(flat)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("format %q is not one rotor reads", format)
	}
	if block == nil {
		return nil, errors.New("has no sops metadata: it is not a SOPS-encrypted file (encrypt it with sops first)")
	}
	m, err := block.metadata()
	if err != nil {
		return nil, err
	}
	d.meta = m
	if format != formatDotenv {
		delete(d.tree, "sops")
	}
	return d, nil
}

// yamlLine is a YAML parser error without the text it quotes (the file may be anything).
func yamlLine(err error) string {
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		if j := strings.IndexByte(s[i:], ':'); j >= 0 {
			return s[i : i+j]
		}
	}
	return "syntax error"
}

// parseDotenv reads KEY=value lines as sops writes them (comments skipped).
func parseDotenv(raw []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), maxFile)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d is not KEY=value", n)
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// dotenvAgeRecipient matches the flattened recipient keys of a dotenv file's sops metadata:
// sops_age__list_0__map_recipient, sops_key_groups__list_0__map_age__list_1__map_recipient.
var dotenvAgeRecipient = regexp.MustCompile(`^sops_(?:key_groups__list_\d+__map_)?age__list_\d+__map_recipient$`)

// dotenvOtherKey matches the flattened first field of other master keys.
var dotenvOtherKey = regexp.MustCompile(`^sops_(?:key_groups__list_\d+__map_)?(?:pgp|kms|gcp_kms|azure_kv|hc_vault)__list_\d+__map_created_at$`)

// dotenvBlock gathers the flattened sops metadata of a dotenv file (nil when there is none).
func dotenvBlock(flat map[string]string) (*sopsBlock, error) {
	var b sopsBlock
	found := false
	for k, v := range flat {
		if !strings.HasPrefix(k, "sops_") {
			continue
		}
		found = true
		switch {
		case dotenvAgeRecipient.MatchString(k):
			b.Age = append(b.Age, ageEntry{Recipient: v})
		case dotenvOtherKey.MatchString(k):
			b.PGP = append(b.PGP, k)
		}
	}
	if !found {
		return nil, nil
	}
	b.UnencryptedSuffix = flat["sops_unencrypted_suffix"]
	b.EncryptedSuffix = flat["sops_encrypted_suffix"]
	b.UnencryptedRegex = flat["sops_unencrypted_regex"]
	b.EncryptedRegex = flat["sops_encrypted_regex"]
	b.UnencryptedCommentRegex = flat["sops_unencrypted_comment_regex"]
	b.EncryptedCommentRegex = flat["sops_encrypted_comment_regex"]
	b.MACOnlyEncrypted = flat["sops_mac_only_encrypted"] == "true"
	b.Version = flat["sops_version"]
	// The map's order is random; the recipients' order does not matter to rotor.
	return &b, nil
}

// lookup returns the node at path: a string leaf, a nested map, or something else; found is
// false when the path is absent.
func (d *document) lookup(path []string) (node any, found bool) {
	if d.format == formatDotenv {
		if len(path) != 1 {
			return nil, false
		}
		v, ok := d.flat[path[0]]
		return v, ok
	}
	var cur any = d.tree
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// encryptedAt returns the ciphertext at path ("ENC[AES256_GCM,…]"), and whether there is one.
func (d *document) encryptedAt(path []string) (string, bool) {
	n, ok := d.lookup(path)
	if !ok {
		return "", false
	}
	s, ok := n.(string)
	return s, ok && isCiphertext(s)
}

func isCiphertext(s string) bool { return strings.HasPrefix(s, "ENC[AES256_GCM,") }

// children counts the entries of the map at path (0 when it is not a map).
func (d *document) children(path []string) int {
	n, _ := d.lookup(path)
	m, _ := n.(map[string]any)
	return len(m)
}

// digest names a file's bytes, to tell whether someone changed it meanwhile.
func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
