// Command baredecode is the baseline of the P2 benchmark: it reads every *.yaml file below a
// folder and decodes each one with go.yaml.in/yaml/v3, the parser rotor's loader uses, and
// does nothing else. What rotor spends beyond this is the cost of being rotor (strict
// decoding, references, windows, the plan).
//
//	baredecode -into node|any [-par] DIR
//
// -into node decodes into yaml.Node (what rotor's loader does before its own strict pass);
// -into any decodes into map[string]any (the usual "just unmarshal it"). -par spreads the
// files over GOMAXPROCS goroutines, as rotor's loader does; without it files are decoded one
// after the other. Decoded documents are dropped after each file, as a bare decode would.
// It prints the file, document and node (or value) counts, so a run that decoded nothing
// cannot pass for a fast one.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
)

func main() {
	into := flag.String("into", "node", "decode into: node (yaml.Node) or any (map[string]any)")
	par := flag.Bool("par", false, "decode the files on GOMAXPROCS goroutines")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: baredecode -into node|any [-par] DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || (*into != "node" && *into != "any") {
		flag.Usage()
		os.Exit(2)
	}
	files, err := yamlFiles(flag.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
	decode := decodeNodes
	if *into == "any" {
		decode = decodeAny
	}
	workers := 1
	if *par {
		workers = min(runtime.GOMAXPROCS(0), max(len(files), 1))
	}

	var docs, items atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan string)
	for range workers {
		wg.Go(func() {
			for name := range work {
				d, n, err := decode(name)
				docs.Add(d)
				items.Add(n)
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("%s: %w", name, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", firstErr)
		os.Exit(1)
	}
	fmt.Printf("decoded %d files, %d documents, %d %ss (workers %d)\n", len(files), docs.Load(), items.Load(), *into, workers)
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func yamlFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err == nil && len(files) == 0 {
		err = errors.New("no *.yaml files in " + root)
	}
	slices.Sort(files)
	return files, err
}

// decodeNodes decodes every document of a file into a yaml.Node, as rotor's loader does, and
// counts the nodes.
func decodeNodes(name string) (docs, nodes int64, err error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return 0, 0, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err == io.EOF {
			return docs, nodes, nil
		} else if err != nil {
			return docs, nodes, err
		}
		docs++
		nodes += countNodes(&doc)
	}
}

func countNodes(n *yaml.Node) int64 {
	c := int64(1)
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

// decodeAny decodes every document of a file into a map[string]any and counts the values.
func decodeAny(name string) (docs, values int64, err error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return 0, 0, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err == io.EOF {
			return docs, values, nil
		} else if err != nil {
			return docs, values, err
		}
		docs++
		values += countValues(doc)
	}
}

func countValues(v any) int64 {
	c := int64(1)
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			c += countValues(e)
		}
	case []any:
		for _, e := range x {
			c += countValues(e)
		}
	}
	return c
}
