// Copying pocketdiff's own host code into a generated file, so an app runs the
// very functions `pocketdiff run` runs (the tokenizer, the noise, the scheduler
// step): same source, same numbers. A portable source imports nothing but types
// that the generated file declares itself and other portable sources it copies
// too; anything else is refused here, at generation time, rather than left to
// fail in the app.
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TsMorph from 'ts-morph';
import type { Node as TsNode, Project, SourceFile } from 'ts-morph';
import { PROJECT_ROOT } from '../root.ts';

export const SRC_ROOT = path.join(PROJECT_ROOT, 'src');

let loaded: typeof TsMorph | undefined;

/** ts-morph, loaded on first use: it brings its own TypeScript (about a second), which only writing a pipeline.ts needs. */
export function tsMorph(): typeof TsMorph {
  return (loaded ??= createRequire(import.meta.url)('ts-morph') as typeof TsMorph);
}

let sources: Project | undefined;

function sourceFile(rel: string): SourceFile {
  sources ??= new (tsMorph().Project)({ skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true });
  const file = path.join(SRC_ROOT, rel);
  return sources.getSourceFile(file) ?? sources.addSourceFileAtPath(file);
}

export interface Portable {
  /** Path under src/. */
  file: string;
  /** Type names its imports may bring in, because the generated file declares them. */
  providedTypes?: string[];
  /** Portable sources (paths under src/) it may import from, because the generated file copies them before it. */
  copied?: string[];
  /** Only these top-level declarations (default: all). */
  only?: string[];
}

/** The statements of a portable source, as text, with a banner naming where they come from. */
export function portableText(p: Portable): string {
  const f = sourceFile(p.file);
  const { Node } = tsMorph();
  const parts: string[] = [];
  for (const s of f.getStatements()) {
    if (Node.isImportDeclaration(s)) {
      const names = s.getNamedImports().map((n) => n.getName());
      const from = path.relative(SRC_ROOT, path.resolve(path.dirname(f.getFilePath()), s.getModuleSpecifierValue()));
      const allowed =
        ((s.isTypeOnly() || s.getNamedImports().every((n) => n.isTypeOnly())) &&
          names.every((n) => p.providedTypes?.includes(n))) ||
        (!s.getDefaultImport() && !s.getNamespaceImport() && !!p.copied?.includes(from.split(path.sep).join('/')));
      if (!allowed) throw new Error(`src/${p.file} is not portable: it imports ${s.getText()}`);
      continue;
    }
    if (Node.isExportDeclaration(s)) continue;
    if (p.only && !p.only.includes(declaredName(s) ?? '')) continue;
    parts.push(s.getFullText().replace(/^\s*\n/, ''));
  }
  return `// ── from pocketdiff src/${p.file} ──\n${parts.join('\n\n')}`;
}

function declaredName(s: TsNode): string | undefined {
  const { Node } = tsMorph();
  if (
    Node.isFunctionDeclaration(s) ||
    Node.isClassDeclaration(s) ||
    Node.isInterfaceDeclaration(s) ||
    Node.isTypeAliasDeclaration(s)
  )
    return s.getName();
  if (Node.isVariableStatement(s)) return s.getDeclarations()[0]?.getName();
  return undefined;
}

/** Adds a portable source's statements to the generated file, after a blank line. */
export function addPortable(f: SourceFile, p: Portable): void {
  f.addStatements((w) => w.blankLineIfLastNot().write(portableText(p)));
}

/** A section banner with a blank line before it. */
export function banner(f: SourceFile, text: string): void {
  f.addStatements((w) => w.blankLineIfLastNot().writeLine(`// ── ${text} ──`));
}
