package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
	line int
}

// parseDockerfile splits a Dockerfile into instructions, dropping comments
// and parser directives.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(l)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	return out
}

// stage is one build stage of a Dockerfile.
type stage struct {
	image, name  string
	instructions []instruction
}

func TestDockerfile(t *testing.T) {
	const file = "Dockerfile"
	ins := parseDockerfile(t, file)

	// ARGs before the first FROM parameterize the FROM lines.
	globalArgs := map[string]string{}
	var stages []stage
	for _, in := range ins {
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			image := os.Expand(f[0], func(k string) string { return globalArgs[k] })
			s := stage{image: image}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
		case len(stages) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			globalArgs[k] = v
		case len(stages) > 0:
			stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%s has %d stages, want a build stage and a final stage", file, len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.image, "golang:1.26") {
		t.Errorf("build stage image %q, want golang:1.26…", build.image)
	}

	// The build: static, trimmed, versioned; its output path.
	var binary string
	var dirs []string
	cgoOff := false
	for _, in := range build.instructions {
		if in.cmd == "ENV" && regexp.MustCompile(`\bCGO_ENABLED=0\b`).MatchString(in.args) {
			cgoOff = true
		}
		if in.cmd != "RUN" {
			continue
		}
		for _, m := range regexp.MustCompile(`mkdir(?:\s+-p)?\s+(\S+)`).FindAllStringSubmatch(in.args, -1) {
			dirs = append(dirs, m[1])
		}
		if !strings.Contains(in.args, "go build") {
			continue
		}
		if strings.Contains(in.args, "CGO_ENABLED=0") {
			cgoOff = true
		}
		for _, want := range []string{"-trimpath", "-X main.version=", "./cmd/authserver"} {
			if !strings.Contains(in.args, want) {
				t.Errorf("line %d: go build without %s", in.line, want)
			}
		}
		if m := regexp.MustCompile(`\s-o\s+(\S+)`).FindStringSubmatch(in.args); m != nil {
			binary = m[1]
		}
	}
	if !cgoOff {
		t.Error("the build does not set CGO_ENABLED=0: the binary would not be static")
	}
	if binary == "" {
		t.Fatal("no go build -o … in the build stage")
	}
	if v, err := os.ReadFile(filepath.Join("..", "cmd", "authserver", "version.go")); err != nil || !strings.Contains(string(v), "var version") {
		t.Errorf("-X main.version= needs var version in cmd/authserver (%v)", err)
	}

	// The final stage: distroless, non-root, and only the binary (plus an
	// empty working directory the non-root user owns).
	if !strings.HasPrefix(final.image, "gcr.io/distroless/static") {
		t.Errorf("final stage image %q, want distroless static", final.image)
	}
	user := ""
	if strings.HasSuffix(final.image, ":nonroot") {
		user = "65532"
	}
	got := map[string]string{}
	for _, in := range final.instructions {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ADD", "RUN":
			t.Errorf("line %d: %s in the final stage: copy only the binary", in.line, in.cmd)
		case "COPY":
			f := strings.Fields(in.args)
			var from string
			var paths []string
			for _, a := range f {
				if v, ok := strings.CutPrefix(a, "--from="); ok {
					from = v
				} else if !strings.HasPrefix(a, "--") {
					paths = append(paths, a)
				}
			}
			if from == "" || (from != build.name && from != "0") {
				t.Errorf("line %d: COPY not from the build stage: %s", in.line, in.args)
				continue
			}
			if len(paths) != 2 {
				t.Errorf("line %d: want COPY --from=… SRC DEST, got %s", in.line, in.args)
				continue
			}
			src, dst := paths[0], paths[1]
			switch {
			case src == binary:
			case slices.Contains(dirs, src):
				if !strings.Contains(in.args, "--chown=65532") {
					t.Errorf("line %d: the data directory must belong to the non-root user (--chown=65532:65532)", in.line)
				}
			default:
				t.Errorf("line %d: the final stage copies %s: only the binary (%s) and the empty data directory belong there", in.line, src, binary)
			}
			got[src] = dst
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(in.args), &v); err != nil {
				t.Errorf("line %d: %s must be in exec (JSON) form: %v", in.line, in.cmd, err)
			}
			got[in.cmd] = strings.Join(v, " ")
		case "WORKDIR", "EXPOSE":
			got[in.cmd] = in.args
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("the final stage runs as %q: want a non-root user", user)
	}
	for k, want := range map[string]string{
		binary: "/authserver", "ENTRYPOINT": "/authserver", "CMD": "serve", "WORKDIR": "/data",
	} {
		if got[k] != want {
			t.Errorf("final stage %s = %q, want %q", k, got[k], want)
		}
	}
	if ports := strings.Fields(got["EXPOSE"]); !slices.Contains(ports, "8080") || !slices.Contains(ports, "9464") {
		t.Errorf("EXPOSE %q, want 8080 and 9464", got["EXPOSE"])
	}
}

// TestDockerignore: the Dockerfile's own ignore file keeps the VCS, local
// databases and secrets out of the build context, and the Dockerfile's
// header lists the same patterns for builders that read only a root
// .dockerignore.
func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	docker, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	header := map[string]bool{}
	for _, l := range strings.Split(string(docker), "\n") {
		if p, ok := strings.CutPrefix(l, "#   "); ok {
			header[strings.TrimSpace(p)] = true
		}
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		patterns = append(patterns, l)
		if !header[l] {
			t.Errorf("Dockerfile.dockerignore has %q, which the Dockerfile's header does not list", l)
		}
	}
	for _, want := range []string{".git", "**/*.db", "**/.env"} {
		if !slices.Contains(patterns, want) {
			t.Errorf("Dockerfile.dockerignore does not exclude %s", want)
		}
	}
}
