/**
 * The import rules of src/: arrows run one way.
 *
 *   cli, server (the two faces; demo drives the CLI)
 *     -> core (operations)
 *       -> gitops, argocd, helm, forges, verify (adapters to the outside world)
 *         -> shared, config (errors, redaction, logging, progress; config schemas, environment)
 *
 * sandbox is the embedded stand-in for Argo CD and the cluster: only the CLI's sandbox commands
 * and the demo start it, and it uses only helm, shared and config.
 * `npm test` runs `npm run lint:imports`, so a new arrow the wrong way fails the build.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'shared-is-the-bottom',
      comment: 'src/shared is used by every layer, so it imports no other part of src.',
      severity: 'error',
      from: { path: '^src/shared/' },
      to: { path: '^src/', pathNot: '^src/shared/' },
    },
    {
      name: 'config-uses-only-shared',
      comment: 'Config schemas and environment reading sit below everything but shared.',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: '^src/', pathNot: '^src/(config|shared)/' },
    },
    {
      name: 'adapters-stay-below-the-core',
      comment:
        'gitops, argocd, helm, forges, verify, hooks and notify talk to the outside world; they use shared and config, never core, cli, server, demo or sandbox, nor each other (the core composes them).',
      severity: 'error',
      from: { path: '^src/(gitops|argocd|helm|forges|verify|hooks|notify)/' },
      to: { path: '^src/', pathNot: ['^src/(shared|config)/', '^src/$1/'] },
    },
    {
      name: 'core-below-the-faces',
      comment: 'The operations know nothing of the CLI, the HTTP service, the demo or the sandbox.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/(cli|server|demo|sandbox)/' },
    },
    {
      name: 'server-is-not-the-cli',
      comment:
        'The HTTP service and the CLI are two faces of one core; neither reaches into the other.',
      severity: 'error',
      from: { path: '^src/server/' },
      to: { path: '^src/(cli|demo)/' },
    },
    {
      name: 'cli-reaches-server-only-to-serve',
      comment: '`stackswap serve` is the one place the CLI starts the service.',
      severity: 'error',
      from: { path: '^src/cli/', pathNot: '^src/cli/serve-command\\.ts$' },
      to: { path: '^src/server/' },
    },
    {
      name: 'sandbox-is-a-stand-in',
      comment:
        'The stand-in for Argo CD and the cluster must not borrow the client it stands in for, nor the core it is tested with.',
      severity: 'error',
      from: { path: '^src/sandbox/' },
      to: { path: '^src/', pathNot: '^src/(sandbox|helm|shared|config)/' },
    },
    {
      name: 'only-the-cli-and-demo-start-the-sandbox',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|demo|sandbox)/' },
      to: { path: '^src/sandbox/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      comment: 'A module nothing imports is dead code (entry points excepted).',
      severity: 'error',
      from: {
        orphan: true,
        path: '^src/',
        // src/server/ui/assets: the dashboard's browser script, served as a file, imported by none.
        pathNot: ['^src/(index|cli/main|demo/main)\\.ts$', '\\.d\\.ts$', '^src/server/ui/assets/'],
      },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
