#!/usr/bin/env python3
"""Fail when two sibling modules of a crate import each other, directly or in a ring.

Each `src/` tree is read as a module tree (one node per file). A reference
`crate::a::b::Item` or `super::b::Item` made from a file under module `x` is an
edge from `x`'s ancestor to `b`'s ancestor at the level where the two paths part;
edges are collected per parent module and any strongly connected component of
more than one sibling is reported. Test modules (`#[cfg(test)] mod tests`,
`tests.rs`) are left out: a test may reach anywhere.
"""
import os
import re
import sys

def strip_comments_and_strings(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#+".*?"#+', '""', text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text, flags=re.S)
    return text

def drop_test_modules(text):
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)

def expand_use_tree(prefix, tree):
    """Expand `a::{b, c::{d}}` into ['a::b', 'a::c::d']."""
    tree = tree.strip()
    if not tree:
        return [prefix] if prefix else []
    depth = 0
    for k, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                head = tree[:k].rstrip(":").strip()
                inner_end = matching_brace(tree, k)
                inner = tree[k + 1:inner_end]
                base = join(prefix, head)
                result = []
                for part in split_top(inner):
                    result += expand_use_tree(base, part)
                return result
            depth += 1
    return [join(prefix, tree.split(" as ")[0].strip())]

def matching_brace(s, k):
    depth = 0
    for j in range(k, len(s)):
        depth += {"{": 1, "}": -1}.get(s[j], 0)
        if depth == 0:
            return j
    return len(s)

def split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]

def join(a, b):
    return "::".join(x for x in (a, b) if x)

def module_files(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel[-1] in ("lib", "main", "mod"):
                rel = rel[:-1]
            if rel and rel[-1] == "tests":
                continue
            mods[tuple(rel)] = path
    return mods

def references(text, here, is_dir_module):
    refs = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        refs += expand_use_tree("", m.group(1))
    refs += re.findall(r"(?<![:\w])((?:crate|super|self)(?:::\w+)+)", text)
    out = []
    for r in refs:
        parts = [p for p in r.replace(" ", "").split("::") if p]
        if not parts:
            continue
        # a file module `a/b.rs` is `a::b`; its `super` is `a`. `a/b/mod.rs` likewise.
        if parts[0] == "crate":
            out.append(tuple(parts[1:]))
        elif parts[0] in ("super", "self"):
            base = list(here)
            while parts and parts[0] in ("super", "self"):
                if parts[0] == "super":
                    base = base[:-1]
                parts = parts[1:]
            out.append(tuple(base + parts))
    return out

def resolve(path, mods):
    for n in range(len(path), -1, -1):
        if path[:n] in mods:
            return path[:n]
    return ()

def sccs(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            out.append(comp)
    for v in nodes:
        if v not in index:
            visit(v)
    return out

def check(src):
    mods = module_files(src)
    edges = {}
    witness = {}
    for here, path in mods.items():
        with open(path) as fh:
            text = drop_test_modules(strip_comments_and_strings(fh.read()))
        for ref in references(text, here, path.endswith("mod.rs")):
            target = resolve(ref, mods)
            common = 0
            while common < min(len(here), len(target)) and here[common] == target[common]:
                common += 1
            if common >= len(here) or common >= len(target):
                continue  # ancestor/descendant: a parent re-exporting its child is fine
            a, b = here[: common + 1], target[: common + 1]
            edges.setdefault(a, set()).add(b)
            witness.setdefault((a, b), (path, "::".join(ref)))
    nodes = sorted(set(edges) | {b for s in edges.values() for b in s})
    bad = [c for c in sccs(nodes, edges) if len(c) > 1]
    for comp in bad:
        names = sorted("::".join(c) for c in comp)
        print(f"{src}: import circle between {', '.join(names)}")
        for a in comp:
            for b in comp:
                if (a, b) in witness and b in edges.get(a, ()):
                    f, r = witness[(a, b)]
                    print(f"    {'::'.join(a)} -> {'::'.join(b)}  ({os.path.relpath(f)}: {r})")
    return len(bad)

if __name__ == "__main__":
    roots = sys.argv[1:] or sorted(
        os.path.join(d, "src") for d in
        ["."] + [os.path.join("crates", c) for c in os.listdir("crates")]
        if os.path.isdir(os.path.join(d, "src")))
    sys.exit(1 if sum(check(r) for r in roots) else 0)
