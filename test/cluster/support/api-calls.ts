import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';

/**
 * Derives, from the source, which Kubernetes API requests a component can make: every call of a
 * @kubernetes/client-node API method (its REST path and HTTP method read from client-node's own
 * generated request factories) and every informer/watch path, in the files an entry point
 * imports. Arguments that pick the resource (custom-object group/plural, namespace, name) are
 * evaluated through constants, object literals, small helper functions and the call sites of
 * wrapper functions; what cannot be evaluated is reported, never guessed.
 */

export interface ApiRequirement {
  group: string;
  /** `pods`, or `pods/status` for a subresource. */
  resource: string;
  verb: string;
  /** Namespaced resource; `namespace` is the evaluated namespace when it is a constant. */
  namespaced: boolean;
  namespace?: string;
  name?: string;
  /** file:line of the call. */
  at: string;
  method: string;
}

export interface Unresolved {
  at: string;
  method: string;
  what: string;
}

interface MethodInfo {
  path: string;
  http: string;
}

const clientNode = (repo: string) => join(repo, 'node_modules', '@kubernetes', 'client-node', 'dist');

/** methodName → REST path template and HTTP method, from client-node's generated request factories. */
export function clientNodeMethods(repo: string): Map<string, MethodInfo> {
  const dir = join(clientNode(repo), 'gen', 'apis');
  const methods = new Map<string, MethodInfo>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('Api.js'))) {
    const text = readFileSync(join(dir, file), 'utf8');
    const re = /\n {4}async (\w+)\([^)]*\) \{[\s\S]*?const localVarPath = '([^']+)'[\s\S]*?makeRequestContext\(localVarPath, HttpMethod\.(\w+)\)/g;
    for (const m of text.matchAll(re)) {
      if (!methods.has(m[1]!)) methods.set(m[1]!, { path: m[2]!, http: m[3]! });
    }
  }
  return methods;
}

interface PathShape {
  group: string;
  resource: string;
  namespaced: boolean;
  named: boolean;
}

/** `/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}/status` → its RBAC coordinates. */
export function pathShape(path: string): PathShape | undefined {
  const segs = path.split('?')[0]!.split('/').filter(Boolean);
  let rest: string[];
  let group: string;
  if (segs[0] === 'api') {
    group = '';
    rest = segs.slice(2);
  } else if (segs[0] === 'apis') {
    group = segs[1]!;
    rest = segs.slice(3);
  } else return undefined;
  if (rest.length === 0) return undefined;
  let namespaced = false;
  if (rest[0] === 'namespaces' && rest.length > 2) {
    namespaced = true;
    rest = rest.slice(2);
  }
  const resource = rest[2] ? `${rest[0]}/${rest[2]}` : rest[0]!;
  return { group, resource, namespaced, named: rest.length > 1 };
}

export function verbOf(http: string, named: boolean): string {
  switch (http) {
    case 'GET':
      return named ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return http.toLowerCase();
  }
}

type Val = string | { [key: string]: Val[] } | undefined;
const MaxAlternatives = 256;

/** Relative `.ts` imports reachable from the entry, the component's own code. */
export function reachableFiles(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+\.ts)'/g)) visit(resolve(dirname(file), m[1]!));
  };
  visit(resolve(entry));
  return [...seen].sort();
}

export interface DerivedCalls {
  requirements: ApiRequirement[];
  unresolved: Unresolved[];
  files: string[];
}

/** One TypeScript program for all entries (type-checking client-node once), analysed per entry. */
export function deriveApiCalls(repo: string, entries: string[]): Map<string, DerivedCalls> {
  const methods = clientNodeMethods(repo);
  const perEntry = new Map(entries.map((entry) => [entry, reachableFiles(join(repo, entry))]));
  const program = ts.createProgram([...new Set([...perEntry.values()].flat())], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const results = new Map<string, DerivedCalls>();
  for (const [entry, files] of perEntry) results.set(entry, analyse(program, checker, methods, repo, files));
  return results;
}

function analyse(program: ts.Program, checker: ts.TypeChecker, methods: Map<string, MethodInfo>, repo: string, files: string[]): DerivedCalls {
  const ours = files.map((f) => program.getSourceFile(f)!).filter(Boolean);
  const requirements: ApiRequirement[] = [];
  const unresolved: Unresolved[] = [];

  const at = (node: ts.Node) => {
    const sf = node.getSourceFile();
    return `${sf.fileName.slice(repo.length + 1)}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  };
  const fromClientNode = (decl: ts.Node | undefined) => !!decl && decl.getSourceFile().fileName.includes('@kubernetes/client-node');

  // The calls that can run: from each module's top-level code and the entry, follow references
  // to functions, methods, classes and constants declared in the component's files, so that
  // importing one function from a large module does not count the module's other calls.
  const fileSet = new Set(files);
  const inComponent = (n: ts.Node) => fileSet.has(n.getSourceFile().fileName);
  const callSet = new Set<ts.CallExpression>();
  const visited = new Set<ts.Node>();
  const queue: ts.Node[] = [];
  const enqueue = (n: ts.Node | undefined) => {
    if (n && !visited.has(n)) {
      visited.add(n);
      queue.push(n);
    }
  };
  const enqueueDeclaration = (decl: ts.Declaration) => {
    if (!inComponent(decl)) return;
    if (ts.isFunctionDeclaration(decl) || ts.isMethodDeclaration(decl) || ts.isConstructorDeclaration(decl) || ts.isGetAccessorDeclaration(decl) || ts.isSetAccessorDeclaration(decl)) enqueue(decl);
    else if (ts.isVariableDeclaration(decl) || ts.isPropertyDeclaration(decl) || ts.isPropertyAssignment(decl)) enqueue(decl.initializer);
    else if (ts.isClassDeclaration(decl) || ts.isClassExpression(decl)) {
      for (const member of decl.members) {
        if (ts.isConstructorDeclaration(member)) enqueue(member);
        else if (ts.isPropertyDeclaration(member)) enqueue(member.initializer);
      }
    }
  };
  const walk = (node: ts.Node): void => {
    if (ts.isTypeNode(node) || ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) return;
    if (ts.isCallExpression(node)) callSet.add(node);
    if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) {
      let symbol = checker.getSymbolAtLocation(node);
      if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
      for (const decl of symbol?.declarations ?? []) {
        enqueueDeclaration(decl);
        // `const { f } = await import('./m.ts')`: the binding's type leads to f's declaration.
        if (ts.isBindingElement(decl)) for (const target of checker.getTypeAtLocation(node).getSymbol()?.declarations ?? []) enqueueDeclaration(target);
      }
    }
    ts.forEachChild(node, walk);
  };
  for (const sf of ours) {
    for (const statement of sf.statements) {
      if (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) continue;
      if (ts.isVariableStatement(statement)) {
        for (const d of statement.declarationList.declarations) {
          if (d.initializer && !ts.isArrowFunction(d.initializer) && !ts.isFunctionExpression(d.initializer)) enqueue(d.initializer);
        }
        continue;
      }
      enqueue(statement);
    }
  }
  while (queue.length > 0) walk(queue.pop()!);
  const calls = [...callSet];

  const callersOf = (fn: ts.SignatureDeclaration) => calls.filter((c) => checker.getResolvedSignature(c)?.getDeclaration() === fn);

  type Env = Map<ts.Node, Val[]>;

  const product = (lists: Array<[string, Val[]]>): Array<{ [key: string]: Val[] }> => {
    let out: Array<{ [key: string]: Val[] }> = [{}];
    for (const [key, values] of lists) {
      out = out.flatMap((o) => values.map((v) => ({ ...o, [key]: [v] }))).slice(0, MaxAlternatives);
    }
    return out;
  };

  function evalParam(decl: ts.ParameterDeclaration, env: Env, depth: number): Val[] {
    const bound = env.get(decl);
    if (bound) return bound;
    const fn = decl.parent;
    if (depth > 6 || !ts.isFunctionLike(fn)) return [undefined];
    const index = fn.parameters.indexOf(decl);
    const values: Val[] = [];
    for (const call of callersOf(fn)) {
      const arg = call.arguments[index];
      values.push(...(arg ? evalExpr(arg, new Map(), depth + 1) : decl.initializer ? evalExpr(decl.initializer, env, depth + 1) : [undefined]));
    }
    return values.length ? values.slice(0, MaxAlternatives) : [undefined];
  }

  function evalSymbol(symbol: ts.Symbol | undefined, env: Env, depth: number): Val[] {
    if (!symbol) return [undefined];
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const decl = target.valueDeclaration ?? target.declarations?.[0];
    if (!decl) return [undefined];
    if (ts.isVariableDeclaration(decl) && decl.initializer && ts.getCombinedNodeFlags(decl) & ts.NodeFlags.Const) return evalExpr(decl.initializer, env, depth + 1);
    if (ts.isParameter(decl)) return evalParam(decl, env, depth);
    if (ts.isPropertyAssignment(decl)) return evalExpr(decl.initializer, env, depth + 1);
    if (ts.isShorthandPropertyAssignment(decl)) return evalSymbol(checker.getShorthandAssignmentValueSymbol(decl), env, depth + 1);
    return [undefined];
  }

  function evalExpr(node: ts.Expression, env: Env, depth: number): Val[] {
    if (depth > 12) return [undefined];
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return [node.text];
    if (ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isNonNullExpression(node) || ts.isSatisfiesExpression(node) || ts.isTypeAssertionExpression(node)) {
      return evalExpr(node.expression, env, depth);
    }
    if (ts.isTemplateExpression(node)) {
      let out: Val[] = [node.head.text];
      for (const span of node.templateSpans) {
        const parts = evalExpr(span.expression, env, depth + 1);
        out = out.flatMap((prefix) => parts.map((p) => (typeof prefix === 'string' && typeof p === 'string' ? prefix + p + span.literal.text : undefined))).slice(0, MaxAlternatives);
      }
      return out;
    }
    if (ts.isIdentifier(node)) return evalSymbol(checker.getSymbolAtLocation(node), env, depth);
    if (ts.isObjectLiteralExpression(node)) {
      const entries: Array<[string, Val[]]> = [];
      let spreads: Array<{ [key: string]: Val[] }> = [{}];
      for (const prop of node.properties) {
        if (ts.isPropertyAssignment(prop) && (ts.isIdentifier(prop.name) || ts.isStringLiteral(prop.name))) entries.push([prop.name.text, evalExpr(prop.initializer, env, depth + 1)]);
        else if (ts.isShorthandPropertyAssignment(prop)) entries.push([prop.name.text, evalSymbol(checker.getShorthandAssignmentValueSymbol(prop), env, depth + 1)]);
        else if (ts.isSpreadAssignment(prop)) {
          const spread = evalExpr(prop.expression, env, depth + 1).filter((v): v is { [key: string]: Val[] } => typeof v === 'object');
          if (spread.length) spreads = spreads.flatMap((s) => spread.map((o) => ({ ...s, ...o }))).slice(0, MaxAlternatives);
        }
      }
      return spreads.flatMap((base) => product(entries).map((o) => ({ ...base, ...o }))).slice(0, MaxAlternatives);
    }
    if (ts.isPropertyAccessExpression(node)) {
      const objects = evalExpr(node.expression, env, depth + 1);
      const picked = objects.flatMap((o) => (typeof o === 'object' && o[node.name.text] ? o[node.name.text]! : []));
      return picked.length ? picked : evalSymbol(checker.getSymbolAtLocation(node.name), env, depth + 1);
    }
    if (ts.isCallExpression(node)) {
      const decl = checker.getResolvedSignature(node)?.getDeclaration();
      if (decl && (ts.isArrowFunction(decl) || ts.isFunctionDeclaration(decl) || ts.isFunctionExpression(decl)) && decl.body) {
        const returned = ts.isBlock(decl.body) ? decl.body.statements.find(ts.isReturnStatement)?.expression : decl.body;
        if (!returned) return [undefined];
        const inner: Env = new Map(env);
        decl.parameters.forEach((p, i) => {
          const arg = node.arguments[i];
          inner.set(p, arg ? evalExpr(arg, env, depth + 1) : p.initializer ? evalExpr(p.initializer, env, depth + 1) : [undefined]);
        });
        return evalExpr(returned, inner, depth + 1);
      }
    }
    return [undefined];
  }

  const field = (o: Val, key: string): string | undefined => {
    if (typeof o !== 'object') return undefined;
    const values = o[key];
    return values && values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
  };

  function addFromPath(call: ts.CallExpression, method: string, pathTemplate: string, http: string, args: Val[]): void {
    const shape = pathShape(pathTemplate);
    if (!shape) return; // discovery and version endpoints carry no resource
    for (const arg of args) {
      const fill = (text: string) => text.replace(/\{(\w+)\}/g, (all, key: string) => (key === 'namespace' || key === 'name' ? all : (field(arg, key) ?? all)));
      const group = fill(shape.group);
      const resource = fill(shape.resource);
      if (/[{}]/.test(group + resource)) {
        unresolved.push({ at: at(call), method, what: `${group}/${resource}` });
        continue;
      }
      const namespace = shape.namespaced ? field(arg, 'namespace') : undefined;
      const name = shape.named ? field(arg, 'name') : undefined;
      requirements.push({ group, resource, verb: verbOf(http, shape.named), namespaced: shape.namespaced, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}), at: at(call), method });
    }
  }

  for (const call of calls) {
    const signature = checker.getResolvedSignature(call);
    const decl = signature?.getDeclaration();
    if (!fromClientNode(decl)) continue;
    const callee = call.expression;
    const name = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : '';
    const info = methods.get(name);
    if (info) {
      const arg = call.arguments[0];
      addFromPath(call, name, info.path, info.http, arg ? evalExpr(arg, new Map(), 0) : [{}]);
    } else if (name === 'makeInformer' || name === 'watch') {
      // informers list then watch; a bare Watch watches
      const pathArg = call.arguments[name === 'makeInformer' ? 1 : 0];
      const paths = pathArg ? evalExpr(pathArg, new Map(), 0) : [undefined];
      for (const path of paths) {
        if (typeof path !== 'string') {
          unresolved.push({ at: at(call), method: name, what: 'path' });
          continue;
        }
        for (const verb of name === 'makeInformer' ? ['list', 'watch'] : ['watch']) {
          const shape = pathShape(path);
          if (shape) requirements.push({ group: shape.group, resource: shape.resource, verb, namespaced: shape.namespaced, at: at(call), method: name });
        }
      }
    }
  }
  return { requirements, unresolved, files: files.map((f) => f.slice(repo.length + 1)) };
}
