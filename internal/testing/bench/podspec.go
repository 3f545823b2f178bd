package bench

import "bytes"

// indented runs write, then indents what it wrote by in. Every writer
// writes at column 0 and leaves nesting to this, so a pod spec reads the
// same wherever it is embedded.
func (g *generator) indented(in string, write func()) {
	g.reindent(in, in, write)
}

// item runs write and turns what it wrote into a list entry.
func (g *generator) item(write func()) {
	g.reindent("- ", "  ", write)
}

func (g *generator) reindent(first, rest string, write func()) {
	start := g.buf.Len()
	write()
	text := bytes.Clone(g.buf.Bytes()[start:])
	g.buf.Truncate(start)
	for i, line := range bytes.SplitAfter(text, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if i == 0 {
			g.buf.WriteString(first)
		} else {
			g.buf.WriteString(rest)
		}
		g.buf.Write(line)
	}
}

// list writes key and n entries, the dashes either at the key's column or
// indented under it, as both are common.
func (g *generator) list(key string, n int, compact bool, entry func(i int)) {
	g.printf("%s:\n", key)
	in := "  "
	if compact {
		in = ""
	}
	g.indented(in, func() {
		for i := range n {
			g.item(func() { entry(i) })
		}
	})
}

var containerNames = []string{"app", "sidecar", "proxy", "exporter", "agent"}

// podSpec writes a pod spec: containers, sometimes init containers, an
// ephemeral container or an image volume, and fields that mention images
// without being image fields.
func (g *generator) podSpec() {
	compact := g.chance(2)
	if g.chance(3) {
		g.printf("serviceAccountName: %s\n", g.name("sa"))
	}
	if g.chance(4) {
		g.list("initContainers", 1, compact, func(int) {
			g.container("init", false)
			g.printf("command: [\"sh\", \"-c\", \"until nslookup db; do sleep 2; done\"]\n")
		})
	}
	n := 1
	if g.chance(3) {
		n++
	}
	if g.chance(6) {
		n++
	}
	g.list("containers", n, compact, func(i int) {
		g.container(containerNames[i], true)
	})
	if g.chance(40) {
		g.list("ephemeralContainers", 1, compact, func(int) {
			g.container("debugger", false)
			g.printf("targetContainerName: app\n")
		})
	}
	if g.chance(3) {
		vols := 1
		if g.chance(10) {
			vols = 2
		}
		g.list("volumes", vols, compact, func(i int) {
			if i == 1 {
				g.printf("name: models\nimage:\n  reference: %s\n  pullPolicy: IfNotPresent\n", g.image())
				return
			}
			g.printf("name: config\nconfigMap:\n  name: %s\n", g.name("cfg"))
		})
	}
}

// container writes the fields of one container; full adds ports,
// resources and an environment variable that names an image.
func (g *generator) container(name string, full bool) {
	if g.chance(5) {
		g.printf("image: %s\nname: %s\n", g.image(), name)
	} else {
		g.printf("name: %s\nimage: %s\n", name, g.image())
	}
	if g.chance(3) {
		g.printf("imagePullPolicy: IfNotPresent\n")
	}
	if !full {
		return
	}
	if g.chance(3) {
		g.printf("ports:\n- containerPort: %d\n  name: http\n", 8000+g.rng.IntN(1000))
	}
	if g.chance(4) {
		ref, _ := g.imageRef()
		g.printf("env:\n- name: HELPER_IMAGE\n  value: %s\n", g.quoted(ref))
	}
	if g.chance(2) {
		g.printf("resources:\n  requests: {cpu: %dm, memory: %dMi}\n", 50*(1+g.rng.IntN(8)), 64*(1+g.rng.IntN(8)))
	}
}
