#!/usr/bin/python3
"""Every dependency of the tests comes from a package that jobs/install-deps.sh installs.

  check_deps.py [--source DIR] [--install-deps SCRIPT] [-v]
  check_deps.py --self-test

Python modules: every .py file under tests/, analysis/, examples/ and bench/ is parsed
(ast); each module it imports (`import a.b`, `from a.b import c`, importlib.import_module
with a literal name) that is neither in the standard library (sys.stdlib_module_names) nor
the project's own is resolved to its file (importlib.util.find_spec) and the file to its
Debian package (dpkg -S).  An import inside `try: ... except ImportError` may be optional
only when its line says so: `import torch  # optional: python3-torch`; that package must be
in one of install-deps.sh's optional groups (`--optional`).

Programs: PROGRAMS below lists every external program the tests, the scripts they run and
the build call.  Each must resolve (shutil.which on Debian's PATH, then realpath) to a
file of a package.  A program a test calls that is missing from PROGRAMS is an error:
literal commands of subprocess calls in the .py files (run/Popen/call/check_output..., a
list literal, a name bound to one, or a function returning one), and the commands at
command position in the shell scripts (tests/**/*.sh, jobs/*.sh, .ci/run), normalised by
bash itself (`declare -f`).

A package is "installed by install-deps.sh" when `install-deps.sh --list --with-slurm`
names it, when it is Essential or apt (on every Debian system), or when one of those depends on
it (Depends and Pre-Depends, recursively, as installed here: apt runs with
--no-install-recommends, so Recommends do not count).  Each failure names the file, the
module or program and the package to add.  Exit 0 when all is well, 1 otherwise.
"""
import ast
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("ISW_SOURCE_DIR", os.path.dirname(HERE))
PY_DIRS = ("tests", "analysis", "examples", "bench")
# the scripts the tests (and the README's test command) run
SH_GLOBS = (("tests", ".sh"), ("jobs", ".sh"))
SH_FILES = (".ci/run",)
SH_SKIP = ("tests/fresh_root.sh",)  # runs on the host around the tests, not in them
DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # not /usr/local: no package owns it

# program -> (the package expected to provide it, who calls it)
PROGRAMS = {
    "/usr/bin/python3": ("python3-minimal", "ctest: every Python test"),
    "bash": ("bash", "ctest, run.sh, slurm tests"),
    "cmake": ("cmake", "tests/run.sh"),
    "ctest": ("cmake", "tests/run.sh"),
    "make": ("make", "cmake's build"),
    "cc": ("gcc", "cmake's build"),
    "pkg-config": ("pkg-config", "CMakeLists.txt"),
    "git": ("git", "cmake/version.cmake, slurm_test.py, jobs/slurm.sh"),
    "mpiexec": ("openmpi-bin", "ctest (MPIEXEC_EXECUTABLE)"),
    "mpirun": ("openmpi-bin", "sweep_test.py, test_report.py, jobs/slurm.sh"),
    "h5dump": ("hdf5-tools", "sweep_test.py"),
    "ps": ("procps", "sweep_test.py"),
    "mount": ("mount", "sweep_test.py disk-full (a small tmpfs)"),
    "umount": ("mount", "sweep_test.py disk-full"),
    "strace": ("strace", "bench/bench_writes.py (label bench: write calls per row)"),
    "munged": ("munge", "tests/slurm/cluster.sh"),
    "slurmctld": ("slurmctld", "tests/slurm/cluster.sh"),
    "slurmd": ("slurmd", "tests/slurm/cluster.sh"),
    "sinfo": ("slurm-client", "tests/slurm/cluster.sh"),
    "squeue": ("slurm-client", "tests/slurm/cluster.sh"),
    "scancel": ("slurm-client", "cluster.sh, slurm_test.py"),
    "sbatch": ("slurm-client", "slurm_test.py"),
    "srun": ("slurm-client", "slurm_test.py, jobs/slurm.sh"),
    "salloc": ("slurm-client", "slurm_test.py"),
    "scontrol": ("slurm-client", "slurm_test.py, jobs/slurm.sh"),
    "apt-get": ("apt", "jobs/install-deps.sh"),
    "dpkg-query": ("dpkg", "jobs/install-deps.sh, tests/check_deps.py"),
    "dpkg": ("dpkg", "tests/check_deps.py"),
    "sudo": ("sudo", "jobs/install-deps.sh, only when not root"),
    "hostname": ("hostname", "tests/slurm/cluster.sh"),
    "setsid": ("util-linux", "tests/slurm/cluster.sh"),
    "timeout": ("coreutils", "tests/slurm/cluster.sh"),
    "stat": ("coreutils", "tests/slurm/cluster.sh"),
}
# coreutils and the other essential tools the scripts use
for _p in ("cat chmod cut date dd dirname basename head id mkdir mktemp nproc readlink rm "
           "sleep sort tail tee tr wc env true grep sed").split():
    PROGRAMS.setdefault(_p, ("coreutils", "the shell scripts"))
PROGRAMS.update(grep=("grep", "the shell scripts"), sed=("sed", "the shell scripts"))
# programs needed only where the root has one (sudo): not an error when absent
ABSENT_OK = {"sudo"}

RUN_FUNCS = {"run", "Popen", "call", "check_call", "check_output", "execv", "execvp", "execvpe",
             "spawnv", "spawnvp"}
BASH_WORDS = set(("if then else elif fi case esac for select while until do done in function time "
                  "{ } ! [[ ]] coproc . : [ alias bg bind break builtin caller cd command compgen "
                  "complete compopt continue declare dirs disown echo enable eval exec exit export "
                  "false fc fg getopts hash help history jobs kill let local logout mapfile popd "
                  "printf pushd pwd read readarray readonly return set shift shopt source suspend "
                  "test times trap true type typeset ulimit umask unalias unset wait").split())
PREFIXES = {"exec", "command", "time", "nohup", "setsid", "env", "sudo", "nice", "timeout", "!"}


class Problems(list):
    def add(self, msg):
        self.append(msg)


# --- install-deps.sh -----------------------------------------------------------------------
def packages(script):
    """(required, optional): what `--list --with-slurm` prints, and {package: option}."""
    def out(*args):
        p = subprocess.run(["bash", script, *args], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit("check_deps: bash %s %s failed (%d): %s" % (script, " ".join(args), p.returncode,
                                                                 p.stderr.strip()))
        return p.stdout.split("\n")
    required = {l.strip() for l in out("--list", "--with-slurm") if l.strip()}
    optional = {}
    for line in out("--optional"):
        words = line.split()
        for pkg in words[1:]:
            optional.setdefault(pkg, words[0])
    return required, optional


def dpkg_db():
    """{package: (essential, [dependency clauses as lists of alternatives])}, {virtual: [providers]}."""
    fmt = "${db:Status-Abbrev}\\t${Package}\\t${Essential}\\t${Pre-Depends}, ${Depends}\\t${Provides}\\n"
    p = subprocess.run(["dpkg-query", "-W", "-f=" + fmt], capture_output=True, text=True, check=True)
    db, provides = {}, {}

    def name(s):
        return re.sub(r"\s*[\[(<].*$", "", s.strip()).split(":")[0]
    for line in p.stdout.splitlines():
        f = line.split("\t")
        if len(f) < 5 or not f[0].startswith("ii"):
            continue
        clauses = [[name(a) for a in c.split("|") if name(a)] for c in f[3].split(",")]
        db[f[1]] = (f[2] == "yes", [c for c in clauses if c])
        for v in f[4].split(","):
            if name(v):
                provides.setdefault(name(v), []).append(f[1])
    return db, provides


def closure(roots, db, provides):
    """Packages an install of `roots` brings (Depends/Pre-Depends), plus the Essential ones."""
    todo = [p for p in roots if p in db] + [p for p, (ess, _) in db.items() if ess]
    seen = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for alts in db.get(p, (False, []))[1]:
            for a in alts:  # the first alternative that is installed satisfied it here
                got = ([a] if a in db else []) + [q for q in provides.get(a, []) if q in db]
                if got:
                    todo.extend(got)
                    break
    return seen


def owners(paths):
    """{path: [packages]} from one dpkg -S call (paths that no package owns are left out)."""
    if not paths:
        return {}
    p = subprocess.run(["dpkg", "-S", *sorted(set(paths))], capture_output=True, text=True)
    res = {}
    for line in p.stdout.splitlines():
        if line.startswith("diversion by") or ": " not in line:
            continue
        pk, path = line.split(": ", 1)
        res.setdefault(path, []).extend(x.strip().split(":")[0] for x in pk.split(","))
    return res


def candidates(path):
    """Names dpkg may know a file by: the path, its realpath, and their /usr-merge twins."""
    out = []
    for p in (path, os.path.realpath(path)):
        out.append(p)
        m = re.match(r"^/usr(/(?:bin|sbin|lib\w*)/.*)$", p)
        out.append(m.group(1) if m else ("/usr" + p if re.match(r"^/(bin|sbin|lib\w*)/", p) else p))
    return list(dict.fromkeys(out))


# --- Python files ----------------------------------------------------------------------------
def py_files(src):
    for d in PY_DIRS:
        for root, dirs, files in os.walk(os.path.join(src, d)):
            dirs[:] = [x for x in dirs if not x.startswith(".") and x != "__pycache__"]
            for f in sorted(files):
                if f.endswith(".py"):
                    yield os.path.join(root, f)


def own_modules(src):
    """Names the project's own .py files and packages can be imported by."""
    own = set()
    for path in py_files(src):
        own.add(os.path.basename(path)[:-3])
        d = os.path.dirname(path)
        while os.path.exists(os.path.join(d, "__init__.py")) and d != src:
            own.add(os.path.basename(d))
            d = os.path.dirname(d)
    return own


def in_import_guard(tree):
    """Line numbers of the import statements inside `try: ... except ImportError`."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            caught = set()
            for h in node.handlers:
                for t in ([h.type] if not isinstance(h.type, ast.Tuple) else h.type.elts):
                    if isinstance(t, ast.Name):
                        caught.add(t.id)
            if caught & {"ImportError", "ModuleNotFoundError", "Exception"}:
                for stmt in node.body:
                    for sub in ast.walk(stmt):
                        if isinstance(sub, (ast.Import, ast.ImportFrom)):
                            lines.add(sub.lineno)
    return lines


def imports(tree):
    """(line, top-level module name) of every absolute import, importlib ones included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]
        elif (isinstance(node, ast.Call) and _callee(node) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and not node.args[0].value.startswith(".")):
            yield node.lineno, node.args[0].value.split(".")[0]


def _callee(call):
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _head(node):
    """The literal program name a command list starts with, or None."""
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        e = node.elts[0]
        if isinstance(e, ast.Constant) and isinstance(e.value, str):
            return e.value
    return None


def py_programs(tree):
    """(line, program) of the literal commands that subprocess-like calls run."""
    bound = {}  # name -> command lists bound to it (assignments, for-loop targets)
    returns = {}  # function name -> command lists it returns
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name) and _head(node.value):
                    bound.setdefault(t.id, []).append(node.value)
        elif isinstance(node, ast.For) and isinstance(node.iter, (ast.Tuple, ast.List)):
            tgt = node.target
            for item in node.iter.elts:
                if isinstance(tgt, ast.Name) and _head(item):
                    bound.setdefault(tgt.id, []).append(item)
                elif isinstance(tgt, ast.Tuple) and isinstance(item, (ast.Tuple, ast.List)):
                    for t, v in zip(tgt.elts, item.elts):
                        if isinstance(t, ast.Name) and _head(v):
                            bound.setdefault(t.id, []).append(v)
        elif isinstance(node, ast.FunctionDef):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Return) and _head(sub.value):
                    returns.setdefault(node.name, []).append(sub.value)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _callee(node) in RUN_FUNCS and node.args):
            continue
        a = node.args[0]
        if _callee(node).startswith(("exec", "spawn")) and len(node.args) > 1:
            a = node.args[-1] if _callee(node).startswith("spawn") else node.args[1]
        cmds = [a] if _head(a) else []
        if isinstance(a, ast.Name):
            cmds += bound.get(a.id, [])
        elif isinstance(a, ast.Call) and _callee(a) in returns:
            cmds += returns[_callee(a)]
        for c in cmds:
            yield c.lineno, _head(c)


# --- shell scripts ---------------------------------------------------------------------------
def sh_files(src):
    for d, ext in SH_GLOBS:
        for root, dirs, files in os.walk(os.path.join(src, d)):
            dirs[:] = [x for x in dirs if not x.startswith(".")]
            for f in sorted(files):
                path = os.path.join(root, f)
                if f.endswith(ext) and os.path.relpath(path, src) not in SH_SKIP:
                    yield path
    for f in SH_FILES:
        if os.path.isfile(os.path.join(src, f)):
            yield os.path.join(src, f)


def sh_programs(path):
    """Words at command position in a bash script (as bash itself prints it back)."""
    with open(path) as f:
        text = f.read()
    p = subprocess.run(["bash", "-c", 'eval "__isw_body() {\n$1\n}" && declare -f __isw_body', "_", text],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return [("?", "bash cannot parse %s: %s" % (path, p.stderr.strip()))]
    body = p.stdout
    functions = set(re.findall(r"^\s*(?:function\s+)?([A-Za-z_][\w-]*) \(\)\s*$", body, re.M))
    # command substitutions (not arithmetic ones) start commands of their own; so do lines
    body = re.sub(r"\$\((?!\()|`", " ; ", body).replace("\n", " ;\n")
    lex = shlex.shlex(body, posix=True, punctuation_chars=";&|()<>")
    lex.commenters = ""
    lex.whitespace_split = True
    try:
        toks = []
        for t in lex:  # one token per operator character: ")" ";" "(" "(" ...
            toks.extend(t if t and set(t) <= set(";&|()<>") else [t])
    except ValueError as e:
        return [("?", "cannot split %s into words: %s" % (path, e))]
    found, at_cmd, skip_to, arith, cases = [], True, None, 0, 0
    i = 0
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        nxt2 = toks[i + 2] if i + 2 < len(toks) else ""
        i += 1
        if arith:  # inside (( ... )) or an array assignment's ( ... )
            if t == ")" and (arith == "(" or nxt == ")"):
                i += arith != "("
                arith = 0
            continue
        if skip_to:  # the words after for/case/select up to do/in
            if t in skip_to:
                cases += t == "in" and skip_to == {"in"}
                skip_to, at_cmd = None, True
            continue
        if t in ("(", ")", ";", "&", "|", "<", ">"):
            if t == "(" and nxt == "(":
                arith, i = "((", i + 1
                continue
            at_cmd = t not in ("<", ">")
            continue
        if re.match(r"^[A-Za-z_]\w*\+?=$", t) and nxt == "(" and nxt2 != "(":  # name=( words )
            arith, i = "(", i + 1
            continue
        if not at_cmd:
            continue
        if re.match(r"^[A-Za-z_]\w*(\[[^]]*\])?\+?=", t):  # assignment before the command
            continue
        if t in ("for", "select"):
            if nxt == "(" and nxt2 == "(":
                arith, i = "((", i + 2
            else:
                skip_to = {"do", ";"}
            continue
        if t == "case":
            skip_to = {"in"}
            continue
        if t == "esac":
            cases -= 1
            continue
        if cases and nxt in (")", "|"):  # a case pattern
            continue
        if t in ("then", "do", "else", "elif", "if", "while", "until", "{", "}", "!", "time"):
            continue
        word = t
        at_cmd = t in PREFIXES or t in ("$SUDO", "${SUDO}")
        if word in BASH_WORDS or word in functions or word.startswith(("$", "-", "/", ".", "~")):
            continue
        if word == "timeout" and re.match(r"^[0-9.]+[smhd]?$", nxt):
            i += 1
        if re.match(r"^[A-Za-z_][\w.+-]*$", word) and word != "__isw_body":
            found.append(("", word))
    return found


# --- the check -------------------------------------------------------------------------------
def which(prog):
    return prog if os.path.isabs(prog) and os.access(prog, os.X_OK) else shutil.which(prog, path=DEBIAN_PATH)


def check(src, script, verbose=False):
    problems = Problems()
    required, optional = packages(script)
    db, provides = dpkg_db()
    covered = closure(required | {"apt"}, db, provides)  # apt: what install-deps.sh runs
    listed = os.path.relpath(script, src) if script.startswith(src + os.sep) else script
    stdlib = set(sys.stdlib_module_names)
    own = own_modules(src)

    # 1. what the tests need: (where, kind, name, optional package or None)
    needs = []
    for path in py_files(src):
        rel = os.path.relpath(path, src)
        with open(path) as f:
            text = f.read()
        try:
            tree = ast.parse(text, path)
        except SyntaxError as e:
            problems.add("%s: cannot parse: %s" % (rel, e))
            continue
        guarded = in_import_guard(tree)
        lines = text.splitlines()
        for ln, mod in imports(tree):
            if mod in stdlib or mod in own or mod == "__future__":
                continue
            m = re.search(r"#\s*optional:\s*(\S+)", lines[ln - 1])
            if m and ln not in guarded:
                problems.add("%s:%d marks `%s` optional but does not guard it with try/except ImportError"
                             % (rel, ln, mod))
            needs.append(("%s:%d" % (rel, ln), "module", mod, m.group(1) if m else None))
        for ln, prog in py_programs(tree):
            if os.path.basename(prog) != prog:
                continue  # a path: a project file (the test's own binary)
            if prog not in PROGRAMS:
                problems.add("%s:%d runs `%s`, which tests/check_deps.py's PROGRAMS does not list: add it "
                             "there with the package that provides it (and that package to %s)"
                             % (rel, ln, prog, listed))
    for path in sh_files(src):
        rel = os.path.relpath(path, src)
        for where, prog in sh_programs(path):
            if where == "?":
                problems.add(prog)
            elif prog not in PROGRAMS:
                problems.add("%s runs `%s`, which tests/check_deps.py's PROGRAMS does not list: add it there "
                             "with the package that provides it (and that package to %s)" % (rel, prog, listed))
    for prog, (pkg, who) in PROGRAMS.items():
        needs.append((who, "program", prog, None))

    # 2. resolve each to a file, and the file to its package
    files = {}
    for where, kind, name, opt in needs:
        if kind == "module":
            spec = importlib.util.find_spec(name)
            f = None
            if spec is not None:
                f = spec.origin if spec.origin not in (None, "namespace") else \
                    next(iter(spec.submodule_search_locations or []), None)
        else:
            f = which(name)
        files[(kind, name)] = f
    own_by = owners([c for f in files.values() if f for c in candidates(f)])

    for where, kind, name, opt in needs:
        f = files[(kind, name)]
        what = "imports %s" % name if kind == "module" else "runs %s" % name
        if kind == "program":
            who = "%s (%s)" % (name, where)
            what, where = "needs the program %s" % name, "the tests"
        if opt:  # an optional import: its package must be in an optional group
            if opt not in optional:
                problems.add("%s marks `import %s` optional: %s, but no --with-... group of %s installs %s"
                             % (where, name, opt, listed, opt))
            continue
        if f is None:
            if kind == "program" and name in ABSENT_OK:
                continue
            hint = PROGRAMS[name][0] if kind == "program" else "python3-" + name.lower().replace("_", "-")
            problems.add("%s %s, which is not installed here (Debian's package is probably %s); add that "
                         "package to %s" % (where, what, hint, listed))
            continue
        pkgs = sorted({p for c in candidates(f) for p in own_by.get(c, [])})
        if not pkgs:
            problems.add("%s %s, which resolves to %s, a file no Debian package owns: %s cannot install it"
                         % (where, what, f, listed))
            continue
        ok = [p for p in pkgs if p in covered]
        if verbose:
            print("%-28s %-34s %-44s %s" % (where[:28], what, f, ",".join(pkgs) +
                                           ("" if ok else "  <- MISSING")))
        if not ok:
            problems.add("%s %s, which comes from %s; add it to %s" % (where, what, " or ".join(pkgs), listed))
    return problems


# --- self-test: the check fails, naming the package, when the list lacks one ---------------------
def self_test():
    fails, cases = [], []

    def expect(name, problems, want, only=False):
        got = [p for p in problems if re.search(want, p)] if want else []
        status = "ok" if (got if want else not problems) and not (only and len(problems) > 1) else "FAILED"
        cases.append(name)
        print("self-test %-30s %s%s" % (name, status, (": " + got[0]) if got else ""))
        if status != "ok":
            fails.append(name)
            print("  expected %s matching %r, got:\n  %s" % ("only a problem" if only else "a problem", want,
                                                        "\n  ".join(problems) or "none"))

    real = os.path.join(SRC, "jobs", "install-deps.sh")
    with tempfile.TemporaryDirectory(prefix="isw-check-deps-") as tmp:
        tree = os.path.join(tmp, "src")
        for d in ("tests", "jobs", "analysis"):
            os.makedirs(os.path.join(tree, d))

        def write(rel, text, mode=0o644):
            with open(os.path.join(tree, rel), "w") as f:
                f.write(text)
            os.chmod(os.path.join(tree, rel), mode)

        def fake_deps(drop=(), add=()):
            req, opt = packages(real)
            pk = sorted((req - set(drop)) | set(add))
            groups = "\n".join("%s %s" % (o, p) for p, o in sorted(opt.items()))
            write("jobs/install-deps.sh",
                  "case \"$*\" in *--optional*) printf '%%s\\n' %s ;; *) printf '%%s\\n' %s ;; esac\n"
                  % (shlex.quote(groups), " ".join(pk)))
            return os.path.join(tree, "jobs", "install-deps.sh")

        write("tests/test_report.py", "import os\nimport numpy as np\nfrom scipy import stats\n")
        write("analysis/helper.py", "import json\n")
        write("analysis/use.py", "import helper\n")
        expect("complete list passes", check(tree, fake_deps()), None)
        # python3-matplotlib depends on python3-fonttools, which depends on python3-scipy
        expect("scipy through matplotlib", check(tree, fake_deps(drop=["python3-scipy"])), None)
        expect("6011bf0's list (no scipy)",
               check(tree, fake_deps(drop=["python3-scipy", "python3-matplotlib"])),
               r"^tests/test_report.py:3 imports scipy, which comes from python3-scipy; "
               r"add it to jobs/install-deps.sh$")
        write("tests/t2.py", "import subprocess\ncmd = ['frobnicate', '-x']\nsubprocess.run(cmd)\n")
        expect("unlisted program (python)", check(tree, fake_deps()),
               r"^tests/t2.py:2 runs `frobnicate`, which tests/check_deps.py's PROGRAMS does not list")
        os.unlink(os.path.join(tree, "tests/t2.py"))
        write("tests/t3.sh", "#!/bin/bash\n# frobnicate in a comment\nf() { echo; }\nif [[ -n $x ]]; then\n"
              "  ((n > 1)) && f; x=$(frobnicate --all | sort)\nfi\n")
        expect("unlisted program (shell)", check(tree, fake_deps()),
               r"^tests/t3.sh runs `frobnicate`, which tests/check_deps.py's PROGRAMS does not list", only=True)
        os.unlink(os.path.join(tree, "tests/t3.sh"))
        write("analysis/opt.py", "try:\n    import torch  # optional: python3-torchx\nexcept ImportError:\n"
              "    torch = None\n")
        expect("optional package not in a group", check(tree, fake_deps()),
               r"^analysis/opt.py:2 marks `import torch` optional: python3-torchx, but no --with-\.\.\. group")
        write("analysis/opt.py", "import torch  # optional: python3-torch\n")
        expect("optional import not guarded", check(tree, fake_deps()),
               r"^analysis/opt.py:1 marks `torch` optional but does not guard it")
        write("analysis/opt.py", "try:\n    import torch  # optional: python3-torch\nexcept ImportError:\n"
              "    torch = None\n")
        expect("guarded optional import", check(tree, fake_deps()), None)
        write("analysis/opt.py", "import torch\n")
        if importlib.util.find_spec("torch") is None:
            expect("unmarked missing import", check(tree, fake_deps()),
                   r"^analysis/opt.py:1 imports torch, which is not installed here .*python3-torch")
    print("self-test: %d of %d cases failed" % (len(fails), len(cases)) if fails else
          "self-test: all %d cases pass" % len(cases))
    return 1 if fails else 0


def main():
    args = sys.argv[1:]
    if args == ["--self-test"]:
        sys.exit(self_test())
    src, script, verbose = SRC, None, False
    while args:
        a = args.pop(0)
        if a == "--source" and args:
            src = os.path.abspath(args.pop(0))
        elif a == "--install-deps" and args:
            script = os.path.abspath(args.pop(0))
        elif a == "-v":
            verbose = True
        else:
            print(__doc__, file=sys.stderr)
            sys.exit(2)
    problems = check(src, script or os.path.join(src, "jobs", "install-deps.sh"), verbose)
    for p in problems:
        print("check_deps: " + p)
    print("check_deps: %s" % ("every module and program the tests use comes from a package that "
                              "jobs/install-deps.sh installs" if not problems else
                              "%d problem(s)" % len(problems)))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
