package reliability

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// TestEveryPackageVerifiesGoleak fails, listing them, for the packages of
// the module that have tests but no TestMain calling goleak.VerifyTestMain,
// so a goroutine leaked by any test fails that package's run.
func TestEveryPackageVerifiesGoleak(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Dir,TestGoFiles,XTestGoFiles", "crmsync/...").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var missing []string
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath, Dir           string
			TestGoFiles, XTestGoFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		files := append(p.TestGoFiles, p.XTestGoFiles...)
		if len(files) == 0 {
			continue
		}
		checked++
		if !verifiesGoleak(t, p.Dir, files) {
			missing = append(missing, p.ImportPath)
		}
	}
	sort.Strings(missing)
	for _, p := range missing {
		t.Errorf("%s has tests but no TestMain calling goleak.VerifyTestMain", p)
	}
	if checked == 0 {
		t.Fatal("go list found no package with tests")
	}
	t.Logf("%d packages with tests checked, %d without goleak", checked, len(missing))
}

// verifiesGoleak reports whether one of files declares TestMain and calls
// goleak.VerifyTestMain in it.
func verifiesGoleak(t *testing.T, dir string, files []string) bool {
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
		if err != nil {
			t.Errorf("parsing %s: %v", name, err)
			continue
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "TestMain" || fn.Recv != nil || fn.Body == nil {
				continue
			}
			found := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "VerifyTestMain" {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == "goleak" {
						found = true
					}
				}
				return !found
			})
			if found {
				return true
			}
		}
	}
	return false
}

func TestVerifiesGoleakDetects(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"none_test.go":  "package x\nimport \"testing\"\nfunc TestMain(m *testing.M) { m.Run() }\n",
		"other_test.go": "package x\nimport \"go.uber.org/goleak\"\nfunc TestX() { goleak.VerifyNone(nil) }\n",
		"ok_test.go":    "package x\nimport (\"testing\"; \"go.uber.org/goleak\")\nfunc TestMain(m *testing.M) { goleak.VerifyTestMain(m) }\n",
	} {
		writeAt(t, filepath.Join(dir, name), src)
	}
	if verifiesGoleak(t, dir, []string{"none_test.go", "other_test.go"}) {
		t.Error("a package whose TestMain does not call goleak.VerifyTestMain passed")
	}
	if !verifiesGoleak(t, dir, []string{"none_test.go", "ok_test.go"}) {
		t.Error("a package whose TestMain calls goleak.VerifyTestMain failed")
	}
}
