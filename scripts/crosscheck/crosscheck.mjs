// Runs every case in fixtures/policy-eval/ through an independent IAM evaluator
// (@cloud-copilot/iam-simulate) and reports agreements and disagreements with the expected
// decision. With --write it records the other evaluator's answer in each case's
// "independent" field, keeping any "settled_by" text already written there by hand.
// With --check it exits 1 when a disagreement has no "settled_by" (the AWS text that decides).
//
// Usage: cd scripts/crosscheck && npm install && node crosscheck.mjs [--write] [--check]
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const here = dirname(fileURLToPath(import.meta.url))
const dir = join(here, '..', '..', 'fixtures', 'policy-eval')
const pkg = JSON.parse(
  readFileSync(join(here, 'node_modules', '@cloud-copilot', 'iam-simulate', 'package.json'), 'utf8')
)
const EVALUATOR = `@cloud-copilot/iam-simulate ${pkg.version}`
const write = process.argv.includes('--write')
const check = process.argv.includes('--check')

const DECISION = {
  Allowed: 'Allow',
  ImplicitlyDenied: 'ImplicitDeny',
  ExplicitlyDenied: 'ExplicitDeny'
}

function arnField(arn, n) {
  if (typeof arn !== 'string' || !arn.startsWith('arn:')) return ''
  const parts = arn.split(':')
  return n < 5 ? parts[n] || '' : parts.slice(5).join(':')
}

// The role ARN behind an assumed-role session ARN (the role's path is not in the session ARN).
function roleOf(p) {
  if (p.role_arn) return p.role_arn
  const m = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\//.exec(p.arn || '')
  return m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : undefined
}

// The request context as ecrdiag builds it: explicit keys first (null = absent), then the
// keys IAM derives from the principal and the resource.
function contextFor(r) {
  const p = r.principal
  const account = p.account || arnField(p.arn, 4)
  const explicit = {}
  const lower = new Set()
  for (const [k, v] of Object.entries(r.context || {})) {
    lower.add(k.toLowerCase())
    if (v === null) continue
    explicit[k] = Array.isArray(v) ? v.map(String) : String(v)
  }
  const derived = {}
  const put = (k, v) => {
    if (v === undefined || v === null || v === '' || lower.has(k.toLowerCase())) return
    derived[k] = v
  }
  put('aws:PrincipalArn', p.type === 'AssumedRole' ? roleOf(p) : p.arn)
  put('aws:PrincipalAccount', account)
  put('aws:PrincipalOrgID', p.org_id)
  if (p.org_paths && p.org_paths.length) put('aws:PrincipalOrgPaths', p.org_paths)
  put(
    'aws:PrincipalType',
    { User: 'User', AssumedRole: 'AssumedRole', FederatedUser: 'FederatedUser', Root: 'Account' }[
      p.type
    ]
  )
  if (p.type === 'User') put('aws:username', p.arn.split('/').pop())
  for (const [k, v] of Object.entries(p.tags || {})) put(`aws:PrincipalTag/${k}`, v)
  put('aws:ResourceAccount', arnField(r.resource, 4))
  return { ...derived, ...explicit }
}

function asPolicy(v) {
  return typeof v === 'string' ? JSON.parse(v) : v
}

// iam-simulate adds RCPFullAWSAccess itself and refuses an Allow in an RCP: drop that
// statement when a case spells it out.
function withoutFullAccess(p) {
  const stmts = Array.isArray(p.Statement) ? p.Statement : [p.Statement]
  const full = (s) =>
    s.Effect === 'Allow' && s.Action === '*' && s.Resource === '*' && s.Principal === '*' && !s.Condition
  return { ...p, Statement: stmts.filter((s) => !full(s)) }
}

function levels(v) {
  if (!v) return []
  if (v.length && v.every(Array.isArray)) return v
  return v.length ? [v] : []
}

// Builds the Simulation, or returns { why } when the case cannot be expressed in it.
function simulationFor(r) {
  const p = r.principal
  if (r.registry_policy) return { why: 'iam-simulate has no slot for an ECR registry policy' }
  const sessions = r.session_policies || []
  if (sessions.length > 1) return { why: 'iam-simulate takes one session policy' }
  const account = p.account || arnField(p.arn, 4)
  const resAccount = arnField(r.resource, 4) || account
  const sessionCaller = p.type === 'AssumedRole' || p.type === 'FederatedUser'
  const sim = {
    request: {
      principal: p.arn || `arn:aws:iam::${account}:root`,
      action: r.action,
      resource: { resource: r.resource, accountId: resAccount },
      contextVariables: contextFor(r)
    },
    identityPolicies:
      p.type === 'Root'
        ? []
        : (r.identity_policies || []).map((d, i) => ({ name: `identity_policies[${i}]`, policy: asPolicy(d) })),
    // SCPs do not apply to the management account: pass none for it.
    serviceControlPolicies: p.org_management_account
      ? []
      : levels(r.scps).map((l, i) => ({
          orgIdentifier: `scps[${i}]`,
          policies: l.map((d, j) => ({ name: `scps[${i}][${j}]`, policy: asPolicy(d) }))
        })),
    resourceControlPolicies: levels(r.rcps).map((l, i) => ({
      orgIdentifier: `rcps[${i}]`,
      policies: l
        .map((d, j) => ({ name: `rcps[${i}][${j}]`, policy: withoutFullAccess(asPolicy(d)) }))
        .filter((x) => x.policy.Statement.length > 0)
    }))
  }
  // The repository policy is attached to the repository: a request on "*" does not meet it.
  if (r.resource_policy && r.resource !== '*') sim.resourcePolicy = asPolicy(r.resource_policy)
  if (r.boundary && p.type !== 'Root')
    sim.permissionBoundaryPolicies = [{ name: 'boundary', policy: asPolicy(r.boundary) }]
  if (sessions.length === 1 && sessionCaller) sim.sessionPolicy = asPolicy(sessions[0])
  if (r.vpce_policy) sim.vpcEndpointPolicies = [{ name: 'vpce_policy', policy: asPolicy(r.vpce_policy) }]
  return { sim }
}

async function main() {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
  const tally = { agree: 0, disagree: 0, notComparable: 0, error: 0 }
  const unsettled = []
  for (const f of files) {
    const path = join(dir, f)
    const raw = JSON.parse(readFileSync(path, 'utf8'))
    const cases = Array.isArray(raw) ? raw : [raw]
    for (const c of cases) {
      const prev = c.independent || {}
      const out = { evaluator: EVALUATOR }
      const { sim, why } = simulationFor(c.request)
      if (!sim) {
        out.comparable = false
        out.why = why
        tally.notComparable++
        console.log(`n/a       ${f}: ${why}`)
      } else {
        let res
        try {
          res = await runSimulation(sim, {})
        } catch (err) {
          res = { resultType: 'error', errors: { message: String(err) } }
        }
        if (res.resultType === 'error') {
          out.comparable = false
          out.why = `iam-simulate refused the request: ${JSON.stringify(res.errors).slice(0, 300)}`
          tally.error++
          console.log(`error     ${f}: ${out.why}`)
        } else {
          out.decision = DECISION[res.overallResult] || res.overallResult
          out.agrees = out.decision === c.expect.decision
          if (out.agrees) {
            tally.agree++
          } else {
            tally.disagree++
            console.log(`DISAGREE  ${f}: ecrdiag ${c.expect.decision}, iam-simulate ${out.decision}`)
          }
        }
      }
      if (prev.settled_by && out.agrees !== true) out.settled_by = prev.settled_by
      if (prev.note) out.note = prev.note
      if (out.agrees === false && !out.settled_by) unsettled.push(f)
      c.independent = out
    }
    if (write) writeFileSync(path, JSON.stringify(Array.isArray(raw) ? cases : cases[0], null, 2) + '\n')
  }
  const total = tally.agree + tally.disagree + tally.notComparable + tally.error
  console.log(
    `\n${total} cases: ${tally.agree} agree, ${tally.disagree} disagree, ` +
      `${tally.notComparable} not expressible in iam-simulate, ${tally.error} refused by it`
  )
  if (unsettled.length) console.log(`disagreements without settled_by: ${unsettled.join(', ')}`)
  if (check && unsettled.length) process.exit(1)
}

main().catch((err) => {
  console.error(err)
  process.exit(2)
})
