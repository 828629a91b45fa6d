// The starter apps `niso init` writes: file name → content for a package name and a few host
// facts. Pure, so that every template's manifest can be checked against the schema in tests.
import { isPackageName } from './schema.js';

export const TEMPLATE_NAMES = ['node', 'python', 'rust', 'go', 'binary'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

export function isTemplateName(s: string): s is TemplateName {
  return (TEMPLATE_NAMES as readonly string[]).includes(s);
}

/** What `niso init` found on the host; absent when the tool is not installed. */
export interface HostFacts {
  /** Major version of the host's node, e.g. "22". */
  nodeMajor?: string;
  /** major.minor of the host's python3, e.g. "3.12". */
  pythonVersion?: string;
}

export interface TemplateFile { path: string; content: string }
export interface Template { files: TemplateFile[]; nextSteps: string[] }

export const DEFAULT_NODE_MAJOR = '20';
export const DEFAULT_PYTHON_VERSION = '3.11';

/** `node --version` → "20"; undefined when the text is not a node version. */
export function nodeMajorFrom(versionOutput: string): string | undefined {
  return /^v?(\d+)\.\d+\.\d+/.exec(versionOutput.trim())?.[1];
}

/** `python3 --version` → "3.11"; undefined when the text is not a Python version. */
export function pythonVersionFrom(versionOutput: string): string | undefined {
  const m = /^Python (\d+)\.(\d+)/.exec(versionOutput.trim());
  return m ? `${m[1]}.${m[2]}` : undefined;
}

const header = (name: string, what: string) => `# manifest.toml for ${name}: ${what}
# Every key is described in niso's manifest reference (docs/manifest.md); unknown keys are errors.
`;

function nodeTemplate(name: string, host: HostFacts): Template {
  const major = host.nodeMajor && /^\d+$/.test(host.nodeMajor) ? host.nodeMajor : DEFAULT_NODE_MAJOR;
  return {
    files: [
      {
        path: 'manifest.toml',
        content: `${header(name, 'a Node.js HTTP service.')}
[package]
name = "${name}"
version = "0.1.0"
description = "A small Node.js HTTP service"

[runtime]
${`use = "nodejs:${major}"`.padEnd(34)}# the host's node ${major}, mounted read-only into the sandbox

[binary]
entrypoint = "node"
args = ["server.js"]

[env]
NODE_ENV = "production"
PORT = "3000"                     # the sandbox starts with an empty environment

[network]
ports = ["127.0.0.1:3000:3000"]   # host port 3000 on localhost only; drop "127.0.0.1:" to publish it on every address

[healthcheck]
http = "http://127.0.0.1:3000/health"
`,
      },
      {
        path: 'server.js',
        content: `// A tiny HTTP server without dependencies: GET /health for niso's health check, GET / says hello.
'use strict';
const http = require('node:http');

const port = Number(process.env.PORT) || 3000;

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok' }) + '\\n');
  } else if (req.method === 'GET' && req.url === '/') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('hello from ${name}\\n');
  } else {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('not found\\n');
  }
});

server.listen(port, () => console.log(\`${name} listening on port \${port}\`));

// niso stops the app with SIGTERM: finish open requests, then exit cleanly.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`,
      },
      {
        path: 'package.json',
        content: JSON.stringify({
          name,
          version: '0.1.0',
          private: true,
          description: 'A small Node.js HTTP service',
          main: 'server.js',
          scripts: { start: 'node server.js' },
          engines: { node: `>=${major}` },
        }, null, 2) + '\n',
      },
      {
        path: '.nisoignore',
        content: `# Files \`niso pack\` leaves out of the package (gitignore syntax), on top of [copy] exclude.
# .git and *.niso are always left out. Keep node_modules: the app needs its dependencies.
.env
*.log
coverage/
test/
`,
      },
    ],
    nextSteps: ['node server.js            # try it: curl http://127.0.0.1:3000/health', 'niso pack                 # writes the .niso package'],
  };
}

function pythonTemplate(name: string, host: HostFacts): Template {
  const version = host.pythonVersion && /^\d+\.\d+$/.test(host.pythonVersion) ? host.pythonVersion : DEFAULT_PYTHON_VERSION;
  return {
    files: [
      {
        path: 'manifest.toml',
        content: `${header(name, 'a Python HTTP service.')}
[package]
name = "${name}"
version = "0.1.0"
description = "A small Python HTTP service"

[runtime]
${`use = "python:${version}"`.padEnd(34)}# the host's python ${version}, mounted read-only into the sandbox

[binary]
entrypoint = "python3"
args = ["-u", "app.py"]           # -u: unbuffered, so log lines appear at once

[env]
PORT = "8000"                     # the sandbox starts with an empty environment

[network]
ports = ["127.0.0.1:8000:8000"]   # host port 8000 on localhost only; drop "127.0.0.1:" to publish it on every address

[healthcheck]
http = "http://127.0.0.1:8000/health"
`,
      },
      {
        path: 'app.py',
        content: `"""A tiny HTTP server from the standard library: GET /health for niso's health check, GET / says hello."""
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT") or 8000)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.reply(200, "application/json", json.dumps({"status": "ok"}) + "\\n")
        elif self.path == "/":
            self.reply(200, "text/plain; charset=utf-8", "hello from ${name}\\n")
        else:
            self.reply(404, "text/plain; charset=utf-8", "not found\\n")

    def reply(self, status, content_type, body):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    server = ThreadingHTTPServer(("", PORT), Handler)
    # niso stops the app with SIGTERM: leave serve_forever() and exit cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"${name} listening on port {PORT}")
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
`,
      },
      {
        path: '.nisoignore',
        content: `# Files \`niso pack\` leaves out of the package (gitignore syntax), on top of [copy] exclude.
__pycache__/
*.pyc
.venv/
.env
`,
      },
    ],
    nextSteps: ['python3 app.py            # try it: curl http://127.0.0.1:8000/health', 'niso pack                 # writes the .niso package'],
  };
}

function rustTemplate(name: string): Template {
  const crate = name.replace(/\./g, '_');
  return {
    files: [
      {
        path: 'manifest.toml',
        content: `${header(name, 'a Rust HTTP service, packed as a static binary.')}
# Build, then pack the binary; niso places it at bin/${name} in the package:
#   cargo build --release
#   niso pack --binary target/release/${crate}
# A musl build (--target x86_64-unknown-linux-musl) needs no libraries from the host at all.

[package]
name = "${name}"
version = "0.1.0"
description = "A small Rust HTTP service"

# No [runtime]: the binary brings everything it needs.
[binary]
entrypoint = "bin/${name}"

[copy]
exclude = ["src/**", "target/**", "Cargo.toml", "Cargo.lock"]   # the sources stay out; only the binary ships

[env]
PORT = "8080"

[network]
ports = ["127.0.0.1:8080:8080"]   # host port 8080 on localhost only; drop "127.0.0.1:" to publish it on every address

[healthcheck]
http = "http://127.0.0.1:8080/health"
`,
      },
      {
        path: 'Cargo.toml',
        content: `[package]
name = "${crate}"
version = "0.1.0"
edition = "2021"

[dependencies]

[profile.release]
strip = true
`,
      },
      {
        path: 'src/main.rs',
        content: `//! A tiny HTTP server on the standard library: GET /health for niso's health check, GET / says hello.
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

fn handle(mut stream: TcpStream) -> std::io::Result<()> {
    let mut request_line = String::new();
    BufReader::new(&stream).read_line(&mut request_line)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, content_type, body) = match path {
        "/health" => ("200 OK", "application/json", "{\\"status\\":\\"ok\\"}\\n".to_string()),
        "/" => ("200 OK", "text/plain; charset=utf-8", "hello from ${name}\\n".to_string()),
        _ => ("404 Not Found", "text/plain; charset=utf-8", "not found\\n".to_string()),
    };
    write!(stream, "HTTP/1.1 {status}\\r\\ncontent-type: {content_type}\\r\\ncontent-length: {}\\r\\nconnection: close\\r\\n\\r\\n{body}", body.len())
}

fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").ok().and_then(|p| p.parse::<u16>().ok()).unwrap_or(8080);
    let listener = TcpListener::bind(("0.0.0.0", port))?;
    println!("${name} listening on port {port}");
    for stream in listener.incoming().flatten() {
        thread::spawn(move || {
            let _ = handle(stream);
        });
    }
    Ok(())
}
`,
      },
    ],
    nextSteps: ['cargo build --release', `niso pack --binary target/release/${crate}`],
  };
}

function goTemplate(name: string): Template {
  return {
    files: [
      {
        path: 'manifest.toml',
        content: `${header(name, 'a Go HTTP service, packed as a static binary.')}
# Build a static binary into bin/, then pack:
#   CGO_ENABLED=0 go build -o bin/${name} .
#   niso pack

[package]
name = "${name}"
version = "0.1.0"
description = "A small Go HTTP service"

# No [runtime]: a CGO_ENABLED=0 binary needs nothing from the host.
[binary]
entrypoint = "bin/${name}"

[copy]
include = ["bin/**"]              # only the binary ships, not the sources

[env]
PORT = "8080"

[network]
ports = ["127.0.0.1:8080:8080"]   # host port 8080 on localhost only; drop "127.0.0.1:" to publish it on every address

[healthcheck]
http = "http://127.0.0.1:8080/health"
`,
      },
      {
        path: 'go.mod',
        content: `module ${name}

go 1.22
`,
      },
      {
        path: 'main.go',
        content: `// A tiny HTTP server on the standard library: GET /health for niso's health check, GET / says hello.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "application/json")
		fmt.Fprintln(w, \`{"status":"ok"}\`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "hello from ${name}")
	})
	server := &http.Server{Addr: ":" + port, Handler: mux}

	// niso stops the app with SIGTERM: finish open requests, then exit cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = server.Shutdown(context.Background())
	}()

	log.Printf("${name} listening on port %s", port)
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
`,
      },
    ],
    nextSteps: [`CGO_ENABLED=0 go build -o bin/${name} .`, 'niso pack'],
  };
}

function binaryTemplate(name: string): Template {
  return {
    files: [
      {
        path: 'manifest.toml',
        content: `${header(name, 'a self-contained binary.')}
# Pack any executable that needs no language runtime from the host (a static Rust, Go, C or
# Zig build). niso copies it into the package as bin/${name}, e.g.:
#   niso pack --binary target/release/${name}
# A dynamically linked binary also needs its libraries; check with \`ldd\` that it has none.

[package]
name = "${name}"
version = "0.1.0"

# No [runtime]: the entrypoint is a file of the package, relative to the app directory.
[binary]
entrypoint = "bin/${name}"
args = []

# Publish a port and check health once the program listens on one, e.g.:
# [network]
# ports = ["127.0.0.1:8080:8080"]
#
# [healthcheck]
# tcp = 8080
`,
      },
    ],
    nextSteps: [`niso pack --binary PATH/TO/${name}`],
  };
}

/** The files of a template. `name` must already be a valid package name. */
export function renderTemplate(template: TemplateName, name: string, host: HostFacts = {}): Template {
  if (!isPackageName(name)) throw new Error(`renderTemplate: "${name}" is not a valid package name`);
  switch (template) {
    case 'node': return nodeTemplate(name, host);
    case 'python': return pythonTemplate(name, host);
    case 'rust': return rustTemplate(name);
    case 'go': return goTemplate(name);
    case 'binary': return binaryTemplate(name);
  }
}
