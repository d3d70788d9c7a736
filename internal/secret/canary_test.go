package secret

import (
	"bytes"
	"database/sql/driver"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	texttemplate "text/template"

	"go.yaml.in/yaml/v3"
)

// canary is the value that must never show up in any output. Every test in
// this file puts it in a Value and scans what comes out for it in every
// encoding a careless printer could use.
const canary = "canary-7f3e9b1d-DO-NOT-LEAK"

// leakForm is one way the canary could appear in output.
type leakForm struct {
	name       string
	text       string
	ignoreCase bool
}

// leakForms lists the encodings of secret that a scan must catch: raw (in
// any case, which also covers upper- and lower-case hex of it when it is
// itself hex), hex in both cases and with spaces, Go's decimal and %#v byte
// slice forms, and base64 (standard and URL) at each of the three
// alignments it can have inside a larger encoded buffer.
func leakForms(secret string) []leakForm {
	b := []byte(secret)
	dec := strings.Trim(fmt.Sprint(b), "[]")                                                 // "99 97 110 ..."
	goBytes := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%#v", b), "[]byte{"), "}") // "0x63, 0x61, ..."
	forms := []leakForm{
		{"raw", secret, true},
		{"hex", hex.EncodeToString(b), true},
		{"spaced hex", fmt.Sprintf("% x", b), true},
		{"decimal bytes", dec, false},
		{"go byte slice", goBytes, true},
		{"distinctive fragment", "DO-NOT-LEAK", true},
	}
	for shift := range 3 {
		for _, enc := range []struct {
			name string
			e    *base64.Encoding
		}{{"base64 std", base64.StdEncoding}, {"base64 url", base64.URLEncoding}} {
			s := enc.e.EncodeToString(b[shift:])
			// The last quantum depends on padding or on the bytes that
			// follow in a larger buffer; everything before it is fixed.
			s = s[:len(s)-4]
			forms = append(forms, leakForm{fmt.Sprintf("%s shift %d", enc.name, shift), s, false})
		}
	}
	return forms
}

// leaks returns the names of the forms of secret found in out.
func leaks(secret, out string) []string {
	var found []string
	lower := strings.ToLower(out)
	for _, f := range leakForms(secret) {
		if f.ignoreCase && strings.Contains(lower, strings.ToLower(f.text)) ||
			!f.ignoreCase && strings.Contains(out, f.text) {
			found = append(found, f.name)
		}
	}
	return found
}

func assertNoLeak(t *testing.T, where, out string) {
	t.Helper()
	if found := leaks(canary, out); len(found) > 0 {
		t.Errorf("%s: canary leaked as %s in output:\n%s", where, strings.Join(found, ", "), out)
	}
}

// TestLeakDetectorCatchesEveryForm proves the scanner used by every other
// test in this file is not blind: each form, embedded in other text, is
// found, and ordinary redacted output is not flagged.
func TestLeakDetectorCatchesEveryForm(t *testing.T) {
	b := []byte(canary)
	samples := map[string]string{
		"%s":            fmt.Sprintf("x=%s;", b),
		"%x":            fmt.Sprintf("x=%x;", b),
		"%X":            fmt.Sprintf("x=%X;", b),
		"% x":           fmt.Sprintf("x=% x;", b),
		"%v of bytes":   fmt.Sprintf("x=%v;", b),
		"%d of bytes":   fmt.Sprintf("x=%d;", b),
		"%#v of bytes":  fmt.Sprintf("x=%#v;", b),
		"json of bytes": string(must(json.Marshal(struct{ B []byte }{b}))),
		"upper":         strings.ToUpper(canary),
	}
	for pad := range 3 {
		buf := append(bytes.Repeat([]byte("p"), pad), b...)
		buf = append(buf, "trailing"...)
		samples[fmt.Sprintf("base64 std pad %d", pad)] = base64.StdEncoding.EncodeToString(buf)
		samples[fmt.Sprintf("base64 url pad %d", pad)] = base64.URLEncoding.EncodeToString(buf)
		samples[fmt.Sprintf("base64 raw url pad %d", pad)] = base64.RawURLEncoding.EncodeToString(buf)
	}
	for name, s := range samples {
		if len(leaks(canary, s)) == 0 {
			t.Errorf("detector missed the canary in %s: %s", name, s)
		}
	}
	clean := fmt.Sprintf("password=%s %q {Password:%s} 0xc000012345", Redacted, Redacted, Redacted)
	if found := leaks(canary, clean); len(found) > 0 {
		t.Errorf("detector flags clean output %q as %v", clean, found)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Structs a caller might put a Value in.
type (
	exportedHolder struct {
		Name     string
		Password Value
	}
	unexportedHolder struct {
		name     string
		password Value
	}
	pointerHolder struct {
		Password *Value
		password *Value
	}
	interfaceHolder struct {
		Any any
		any any
	}
	nestedHolder struct {
		Exported   exportedHolder
		unexported unexportedHolder
		List       []Value
		Map        map[string]Value
		list       []Value
	}
)

// valueError is a careless custom error type that keeps the Value and prints
// it in its message.
type valueError struct {
	Credential string
	V          Value
}

func (e *valueError) Error() string {
	return fmt.Sprintf("credential %s rejected value %v (%s, %x)", e.Credential, e.V, e.V, e.V)
}

// subjects returns every shape in which the canary is printed or encoded.
func subjects() map[string]any {
	v := FromString(canary)
	vp := &v
	exp := exportedHolder{Name: "orders-db", Password: v}
	unexp := unexportedHolder{name: "orders-db", password: v}
	base := errors.New("authority refused the login")
	wrapped := fmt.Errorf("rotate orders-db with %v: %w", v, base)
	custom := &valueError{Credential: "orders-db", V: v}
	return map[string]any{
		"Value":                v,
		"*Value":               vp,
		"**Value":              &vp,
		"exported field":       exp,
		"*exported field":      &exp,
		"unexported field":     unexp,
		"*unexported field":    &unexp,
		"pointer fields":       pointerHolder{Password: vp, password: vp},
		"interface fields":     interfaceHolder{Any: v, any: v},
		"nested":               nestedHolder{Exported: exp, unexported: unexp, List: []Value{v}, Map: map[string]Value{"k": v}, list: []Value{v}},
		"[]Value":              []Value{v, v},
		"[]*Value":             []*Value{vp, vp},
		"[2]Value":             [2]Value{v, v},
		"map[string]Value":     map[string]Value{"a": v, "b": v},
		"map[Value]string":     map[Value]string{v: "x"},
		"map[string]*Value":    map[string]*Value{"a": vp},
		"[]any":                []any{v, vp, exp, unexp},
		"[]unexported":         []unexportedHolder{unexp},
		"wrapped error":        wrapped,
		"errors.Join":          errors.Join(base, wrapped, custom),
		"custom error":         error(custom),
		"wrapped custom error": fmt.Errorf("cutover: %w", custom),
		"joined in wrapped":    fmt.Errorf("run 42: %w", errors.Join(wrapped, fmt.Errorf("also %+v", exp))),
	}
}

var verbs = []string{
	"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "% x", "%#x", "% X", "%08x",
	"%-30s", "%30v", "%.3s", "%.40q", "%c", "%U", "%o", "%O", "%b", "%e", "%f", "%g",
	"%t", "%p", "%T", "%8.2f", "%+q", "%#q", "%#s", "%w", "%!", "%z", "%[2]v", "%v %v",
}

func TestCanaryFmt(t *testing.T) {
	for name, s := range subjects() {
		for _, verb := range verbs {
			assertNoLeak(t, fmt.Sprintf("%s with %s", name, verb), fmt.Sprintf(verb, s))
		}
		assertNoLeak(t, name+" with Sprint", fmt.Sprint(s))
		assertNoLeak(t, name+" with Sprintln", fmt.Sprintln("x", s))
		if err, ok := s.(error); ok {
			assertNoLeak(t, name+" Error()", err.Error())
			// The message must say something: redaction, not silence.
			if !strings.Contains(err.Error(), Redacted) {
				t.Errorf("%s: Error() %q does not show %s where the value was", name, err.Error(), Redacted)
			}
		}
	}
}

// TestRedactionIsVisible checks the printers that can call Value's methods
// actually show the literal, so the canary tests are not passing on empty
// output.
func TestRedactionIsVisible(t *testing.T) {
	v := FromString(canary)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		for _, s := range []any{v, &v, exportedHolder{Password: v}, []Value{v}, map[string]Value{"k": v}} {
			if out := fmt.Sprintf(verb, s); !strings.Contains(out, Redacted) {
				t.Errorf("Sprintf(%q, %T) = %q, want it to contain %s", verb, s, out, Redacted)
			}
		}
	}
}

// TestUnexportedFieldPrintsAddress pins the property the design relies on:
// fmt cannot call methods on an unexported field, walks into it, and prints
// the pointer inside as an address.
func TestUnexportedFieldPrintsAddress(t *testing.T) {
	v := FromString(canary)
	addr := regexp.MustCompile(`0x[0-9a-f]{6,}`)
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		out := fmt.Sprintf(verb, unexportedHolder{password: v})
		if !addr.MatchString(out) {
			t.Errorf("Sprintf(%q, unexported) = %q, want an address where the value sits", verb, out)
		}
	}
}

func TestCanaryJSON(t *testing.T) {
	for name, s := range subjects() {
		for _, marshal := range []struct {
			name string
			f    func(any) ([]byte, error)
		}{
			{"Marshal", json.Marshal},
			{"MarshalIndent", func(x any) ([]byte, error) { return json.MarshalIndent(x, "", "  ") }},
			{"Encoder without HTML escaping", func(x any) ([]byte, error) {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				err := enc.Encode(x)
				return buf.Bytes(), err
			}},
		} {
			out, err := marshal.f(s)
			if err != nil {
				assertNoLeak(t, name+" json error", err.Error())
				continue
			}
			assertNoLeak(t, name+" json "+marshal.name, string(out))
		}
	}
	out := must(json.Marshal(exportedHolder{Name: "orders-db", Password: FromString(canary)}))
	if want := `{"Name":"orders-db","Password":"[redacted]"}`; string(out) != want {
		t.Errorf("json = %s, want %s", out, want)
	}
}

func TestCanaryXMLAndYAML(t *testing.T) {
	v := FromString(canary)
	for name, s := range map[string]any{
		"Value":            v,
		"exported field":   exportedHolder{Name: "orders-db", Password: v},
		"unexported field": unexportedHolder{name: "orders-db", password: v},
		"pointer fields":   pointerHolder{Password: &v, password: &v},
		"nested":           nestedHolder{List: []Value{v}},
	} {
		out, err := xml.Marshal(s)
		if err != nil {
			assertNoLeak(t, name+" xml error", err.Error())
		} else {
			assertNoLeak(t, name+" xml", string(out))
		}
	}
	for name, s := range subjects() {
		out, err := yaml.Marshal(s)
		if err != nil {
			assertNoLeak(t, name+" yaml error", err.Error())
			continue
		}
		assertNoLeak(t, name+" yaml", string(out))
	}
	if out := string(must(yaml.Marshal(exportedHolder{Password: v}))); !strings.Contains(out, "password: '[redacted]'") {
		t.Errorf("yaml = %q, want password: '[redacted]'", out)
	}
}

func TestCanarySlog(t *testing.T) {
	v := FromString(canary)
	exp := exportedHolder{Name: "orders-db", Password: v}
	unexp := unexportedHolder{name: "orders-db", password: v}
	err := fmt.Errorf("rotate orders-db with %v: %w", v, &valueError{Credential: "orders-db", V: v})
	for _, h := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"text", func(b *bytes.Buffer) slog.Handler {
			return slog.NewTextHandler(b, &slog.HandlerOptions{AddSource: true})
		}},
		{"json", func(b *bytes.Buffer) slog.Handler {
			return slog.NewJSONHandler(b, &slog.HandlerOptions{AddSource: true})
		}},
	} {
		var buf bytes.Buffer
		log := slog.New(h.new(&buf))
		log.Info("attr", slog.Any("password", v))
		log.Info("key-value pair", "password", v, "ptr", &v)
		log.Info("group", slog.Group("credential", slog.String("id", "orders-db"), slog.Any("password", v)))
		log.Info("exported struct", slog.Any("cfg", exp), slog.Any("cfgptr", &exp))
		log.Info("unexported struct", slog.Any("cfg", unexp), slog.Any("cfgptr", &unexp))
		log.Info("collections", slog.Any("list", []Value{v}), slog.Any("map", map[string]Value{"k": v}), slog.Any("ptrs", []*Value{&v}))
		log.Info("error", slog.Any("err", err), "err2", errors.Join(err))
		log.Info(fmt.Sprintf("message with %v and %+v", v, exp))
		log.With("password", v).WithGroup("g").Info("with and group", "password", v, slog.Any("nested", nestedHolder{Exported: exp, List: []Value{v}}))
		out := buf.String()
		assertNoLeak(t, "slog "+h.name, out)
		if n := strings.Count(out, Redacted); n < 15 {
			t.Errorf("slog %s shows %s only %d times; the scan may be reading the wrong output:\n%s", h.name, Redacted, n, out)
		}
	}
}

func TestCanaryTemplates(t *testing.T) {
	v := FromString(canary)
	data := map[string]any{"V": v, "Cfg": exportedHolder{Password: v}, "Ptr": &v}
	const src = `{{.V}} {{.Cfg}} {{.Ptr}} {{printf "%x %q %#v" .V .V .Cfg}} {{.Cfg.Password}}`
	var buf bytes.Buffer
	if err := texttemplate.Must(texttemplate.New("t").Parse(src)).Execute(&buf, data); err != nil {
		t.Fatal(err)
	}
	assertNoLeak(t, "text/template", buf.String())
	buf.Reset()
	// In a <script>, html/template encodes values as JSON.
	if err := htmltemplate.Must(htmltemplate.New("h").Parse(src+`<a title="{{.V}}">x</a><script>var s = {{.V}}; var c = {{.Cfg}};</script>`)).Execute(&buf, data); err != nil {
		t.Fatal(err)
	}
	assertNoLeak(t, "html/template", buf.String())
}

func TestCanaryRefusedEncoders(t *testing.T) {
	v := FromString(canary)
	for name, s := range map[string]any{
		"Value":          v,
		"*Value":         &v,
		"exported field": exportedHolder{Name: "orders-db", Password: v},
		"[]Value":        []Value{v},
		"map":            map[string]Value{"k": v},
		"pointer field":  pointerHolder{Password: &v},
	} {
		var buf bytes.Buffer
		err := gob.NewEncoder(&buf).Encode(s)
		if err == nil {
			t.Errorf("gob encoding %s succeeded, want an error", name)
		} else if !errors.Is(err, ErrEncode) && !strings.Contains(err.Error(), ErrEncode.Error()) {
			t.Errorf("gob encoding %s: %v, want %v", name, err, ErrEncode)
		}
		assertNoLeak(t, name+" gob output", buf.String())
		if err != nil {
			assertNoLeak(t, name+" gob error", err.Error())
		}
	}

	if _, err := v.MarshalBinary(); !errors.Is(err, ErrEncode) {
		t.Errorf("MarshalBinary error = %v, want ErrEncode", err)
	}
	// database/sql converts arguments through driver.Valuer first.
	out, err := driver.DefaultParameterConverter.ConvertValue(v)
	if !errors.Is(err, ErrEncode) || out != nil {
		t.Errorf("sql argument conversion = %v, %v; want nil, ErrEncode", out, err)
	}
}

// TestCanaryDecodersRefuse checks that a value cannot be decoded from text
// formats, and that the decode error does not quote the input.
func TestCanaryDecodersRefuse(t *testing.T) {
	jsonDoc := `{"Name":"orders-db","Password":"` + canary + `"}`
	yamlDoc := "name: orders-db\npassword: " + canary + "\n"
	xmlDoc := `<exportedHolder><Name>orders-db</Name><Password>` + canary + `</Password></exportedHolder>`

	var gobDoc bytes.Buffer
	if err := gob.NewEncoder(&gobDoc).Encode(struct{ Name, Password string }{"orders-db", canary}); err != nil {
		t.Fatal(err)
	}

	for name, decode := range map[string]func(*exportedHolder) error{
		"json": func(h *exportedHolder) error { return json.Unmarshal([]byte(jsonDoc), h) },
		"yaml": func(h *exportedHolder) error { return yaml.Unmarshal([]byte(yamlDoc), h) },
		"xml":  func(h *exportedHolder) error { return xml.Unmarshal([]byte(xmlDoc), h) },
		"gob":  func(h *exportedHolder) error { return gob.NewDecoder(bytes.NewReader(gobDoc.Bytes())).Decode(h) },
	} {
		var h exportedHolder
		err := decode(&h)
		if err == nil {
			t.Errorf("%s: decoding a Value succeeded, want an error", name)
			continue
		}
		assertNoLeak(t, name+" decode error", err.Error())
		if !h.Password.IsZero() {
			t.Errorf("%s: the Value was filled in despite the error", name)
		}
		if name != "gob" && !errors.Is(err, ErrDecode) && !strings.Contains(err.Error(), ErrDecode.Error()) {
			t.Errorf("%s: error %v does not carry ErrDecode", name, err)
		}
	}
}

// panicEnv makes the test binary panic in TestMain instead of running tests;
// TestCanaryPanic runs the binary that way and reads what the runtime prints.
const panicEnv = "ROTOR_SECRET_TEST_PANIC"

func TestMain(m *testing.M) {
	if mode := os.Getenv(panicEnv); mode != "" {
		panicWith(mode)
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", panicEnv, mode)
		os.Exit(99)
	}
	os.Exit(m.Run())
}

func panicWith(mode string) {
	v := FromString(canary)
	custom := &valueError{Credential: "orders-db", V: v}
	switch mode {
	case "value":
		panic(v)
	case "pointer":
		panic(&v)
	case "error":
		panic(fmt.Errorf("rotate orders-db with %v: %w", v, custom))
	case "custom-error":
		panic(custom)
	case "join":
		panic(errors.Join(errors.New("cutover failed"), custom))
	case "struct":
		panic(exportedHolder{Name: "orders-db", Password: v})
	case "sprintf":
		panic(fmt.Sprintf("unexpected value %v / %#v", v, unexportedHolder{password: v}))
	case "goroutine":
		done := make(chan struct{})
		go func() {
			defer close(done)
			panic(fmt.Errorf("reload: %w", custom))
		}()
		<-done
	}
}

func TestCanaryPanic(t *testing.T) {
	// Modes whose panic value has an Error or String method print it, so the
	// literal must show; the others print a type and an address.
	for mode, showsRedacted := range map[string]bool{
		"value": true, "pointer": true, "error": true, "custom-error": true,
		"join": true, "struct": false, "sprintf": true, "goroutine": true,
	} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$", "-test.count=1")
			cmd.Env = append(os.Environ(), panicEnv+"="+mode, "GOTRACEBACK=all")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("subprocess: err = %v, want a panic (exit 2); output:\n%s", err, out)
			}
			if !bytes.Contains(out, []byte("panic: ")) || !bytes.Contains(out, []byte("goroutine ")) {
				t.Fatalf("subprocess output is not a panic report:\n%s", out)
			}
			if showsRedacted && !bytes.Contains(out, []byte(Redacted)) {
				t.Errorf("panic report does not show %s:\n%s", Redacted, out)
			}
			assertNoLeak(t, "panic "+mode, string(out))
		})
	}
}
