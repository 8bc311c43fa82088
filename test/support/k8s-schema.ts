/**
 * Validates rendered Kubernetes objects against the API schemas, two ways:
 *
 * 1. `validate()` of the matching kubernetes-models class (JSON Schema from the Kubernetes
 *    OpenAPI: required fields, types, enums, formats).
 * 2. Unknown fields. Those schemas allow extra properties, but `kubectl apply` validates strictly
 *    and rejects them, so a misspelt field (`terminationGracePeriod`) would pass (1) and fail in a
 *    cluster. The same models ship TypeScript interfaces generated from the same OpenAPI, and
 *    TypeScript rejects unknown properties in object literals at any depth: each object is
 *    written as a typed literal in a virtual source file and type-checked with the compiler.
 */
import { dirname, join } from 'node:path';
import ts from 'typescript';
import type { K8sObject } from './kustomize-lite';

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** Module (for require and for `import type`) that holds the model of `apiVersion`/`kind`. */
export function modelModuleOf(obj: Pick<K8sObject, 'apiVersion' | 'kind'>): string {
  if (obj.apiVersion.startsWith('monitoring.coreos.com/')) {
    return `@kubernetes-models/prometheus-operator/${obj.apiVersion}/${obj.kind}`;
  }
  return `kubernetes-models/${obj.apiVersion}/${obj.kind}`;
}

function describe(obj: K8sObject): string {
  return `${obj.kind}/${obj.metadata.name}`;
}

/** Schema errors from the kubernetes-models classes; an object with no model is an error too. */
export function schemaErrors(objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  for (const obj of objects) {
    let Model: ModelClass | undefined;
    try {
      Model = (require(modelModuleOf(obj)) as Record<string, ModelClass>)[obj.kind];
    } catch {
      Model = undefined;
    }
    if (!Model) {
      errors.push(`${describe(obj)}: no schema for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (err) {
      errors.push(`${describe(obj)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return errors;
}

/** Unknown-field and type errors found by type-checking each object as a typed literal. */
export function strictFieldErrors(objects: readonly K8sObject[]): string[] {
  // The virtual file sits in test/ so that node_modules resolves as for any test file.
  const fileName = join(dirname(dirname(__dirname)), '..', 'test', '__k8s_objects__.ts');
  const lines = objects.flatMap((obj, i) => [
    `import type { I${obj.kind} as T${i} } from '${modelModuleOf(obj)}';`,
    `export const o${i}: T${i} = ${JSON.stringify(obj)};`,
  ]);
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, ...rest) =>
    name === fileName
      ? ts.createSourceFile(name, source, languageVersion)
      : getSourceFile(name, languageVersion, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const program = ts.createProgram([fileName], options, host);
  const diagnostics = [...program.getSyntacticDiagnostics(), ...program.getSemanticDiagnostics()];
  return diagnostics.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return text;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const obj = objects[Math.floor(line / 2)];
    return `${obj ? describe(obj) : d.file.fileName}: ${text}`;
  });
}
