import type { Credential } from '../config/schema';
import { RotationError } from '../errors';
import { ADMIN_DATABASE, ROTATION_ADMIN_ROLE } from '../targets/postgres';
import type { AdoptionFacts, AdoptionRoles, DatabaseFacts, DefaultPrivilegeChange, HeldPrivilege, MembershipRow, PlannedTransaction, PolicyFact, RoleState } from '../targets/postgres-admin';

/**
 * Adoption turns the single login role an application uses today into the alternating-users
 * shape of infra/postgres/21-alternating-users.sql without losing an object or a grant.
 *
 * The existing role stays one of the two logins (its name is what the application logs in
 * with), a NOLOGIN group takes over its objects and privileges, and a second login is
 * created NOLOGIN: the first rotation that picks it gives it a password and LOGIN.
 *
 * It runs in two phases, because sessions opened before adoption keep acting as the old role
 * until they reconnect:
 * - `adopt`: the group gets everything the role owns and holds, the role becomes a member
 *   that starts every new session as the group, and for the transition it also inherits the
 *   group, so the sessions already open keep working. The owner of the password functions
 *   (infra/postgres/10-rotator.sql) gets the second login, which joins the allow-list.
 * - `finish` (after every application restarted): the role's own privileges and memberships
 *   are dropped, its membership stops inheriting, and the functions' owner gets it as the
 *   bootstrap grants it, allow-listed. Until then the owner must not hold the role with
 *   INHERIT, or it would reach the data. The rotator itself never gets anything.
 */

export type AdoptionPhase = 'adopt' | 'finish';

export interface AdoptionPlan {
  phase: AdoptionPhase;
  transactions: PlannedTransaction[];
  notes: string[];
}

/** The driver's quoting (pg's escapeIdentifier and escapeLiteral). */
export interface Quote {
  identifier(name: string): string;
  literal(value: string): string;
}

interface MembershipOptions {
  admin: boolean;
  inherit: boolean;
  set: boolean;
}

const LOGIN_IN_GROUP: MembershipOptions = { admin: false, inherit: false, set: true };
// While sessions opened before adoption still run as the old role, it inherits the group.
const TRANSITIONAL_LOGIN_IN_GROUP: MembershipOptions = { admin: false, inherit: true, set: true };
// As 21-alternating-users.sql grants it: alter the login and end its sessions, never act as it.
const OWNER_ON_LOGIN: MembershipOptions = { admin: true, inherit: true, set: false };
const OWNER = ROTATION_ADMIN_ROLE;

const STAGE = 'adopt';

/** The roles of an alternating-users credential, the existing login first. */
export function adoptionRolesOf(credential: Credential): AdoptionRoles {
  const { roles, group, admin } = credential.postgres;
  if (credential.strategy !== 'alternating-users' || !roles || !group) {
    refuse(`credential "${credential.id}" must use the alternating-users strategy, with postgres.roles (the existing login first) and postgres.group`);
  }
  return { existing: roles[0], second: roles[1], group, rotator: admin.user };
}

export function planAdoption(roles: AdoptionRoles, facts: AdoptionFacts, phase: AdoptionPhase, quote: Quote): AdoptionPlan {
  checkAdoptable(roles, facts, phase);
  const sql = new StatementWriter(roles, quote);
  const created = phase === 'adopt' ? createdRoles(sql, facts) : [];
  const shared = phase === 'adopt' ? adoptShared(sql, facts) : finishShared(sql, facts);
  // Only DROP OWNED takes the role's own privileges on databases away (CONNECT is given back).
  const sharedFootprint = phase === 'finish' && (shared.length > 0 || facts.databasePrivileges.some((p) => p.privilege !== 'CONNECT'));
  const transactions = facts.databases.map((db) => {
    const main = db.name === facts.mainDatabase;
    const work = [...(main ? shared : []), ...databaseStatements(sql, facts, db, phase, main && sharedFootprint)];
    return { database: safeName(db.name), statements: borrowed(sql, facts, main ? created : [], work) };
  });
  transactions.push({ database: ADMIN_DATABASE, statements: allowListed(sql, facts, phase) });
  return { phase, transactions: transactions.filter((t) => t.statements.length > 0), notes: notesFor(roles, facts) };
}

export function isEmptyPlan(plan: AdoptionPlan): boolean {
  return plan.transactions.length === 0;
}

/**
 * The plan as a psql script: what `--dry-run` prints and what an operator could review or run.
 * No name in it holds a control character (the plan refused them), so a name cannot end a
 * meta-command's line; each line of a note is a comment of its own.
 */
export function renderPlan(plan: AdoptionPlan, quote: Quote): string[] {
  const lines = plan.notes.flatMap((note) => note.split(/\r\n|\r|\n/).map((line, i) => `-- ${i === 0 ? 'note: ' : '   '}${line}`));
  for (const t of plan.transactions) lines.push(`\\connect ${quote.identifier(safeName(t.database))}`, 'BEGIN;', ...t.statements.map((s) => `${s};`), 'COMMIT;');
  return lines;
}

/** A name with a control character is refused: in a psql script a newline ends a meta-command. */
export function safeName(name: string): string {
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) refuse(`the name ${JSON.stringify(name)} holds a control character: rename it before adopting`);
  return name;
}

// ---- refusals ------------------------------------------------------------------------------

function checkAdoptable(roles: AdoptionRoles, facts: AdoptionFacts, phase: AdoptionPhase): void {
  const { existing, second, group, rotator } = facts.roles;
  if (new Set([roles.existing, roles.second, roles.group, roles.rotator]).size < 4) refuse(`the two logins, the group and the rotator must be four different roles`);
  if (!existing.exists) refuse(`role ${roles.existing} does not exist: postgres.roles[0] must name the login role the application uses today`);
  if (existing.superuser) refuse(`role ${roles.existing} is a superuser: the rotator can never manage it`);
  if (!rotator.exists) refuse(`the rotator role ${roles.rotator} does not exist: run infra/postgres/10-rotator.sql first`);
  if (!facts.rotationAdmin.installed) refuse(`the password functions are not installed in database ${ADMIN_DATABASE}: run infra/postgres/10-rotator.sql first`);
  if (!facts.rotationAdmin.actsAsIt) refuse(`${facts.administrator.name} cannot act as ${OWNER}, which alone changes the allow-list: run adopt as the administrator that ran infra/postgres/10-rotator.sql`);
  if (facts.memberships.some((m) => m.member === roles.rotator)) refuse(`the rotator ${roles.rotator} still holds role memberships: run infra/postgres/30-migrate-from-createrole.sql first`);
  if (group.exists && group.canLogin) refuse(`role ${roles.group} can log in: the group must be NOLOGIN`);
  if (second.exists && facts.secondOwnsObjects) refuse(`role ${roles.second} owns objects: the second login must own nothing`);
  if (second.superuser) refuse(`role ${roles.second} is a superuser`);
  if (facts.unconnectable.length > 0) refuse(`role ${roles.existing} has objects or grants in ${facts.unconnectable.join(', ')}, which accept no connections`);
  for (const db of facts.databases) {
    if (db.unsupported.length > 0) refuse(`role ${roles.existing} holds privileges in ${db.unsupported.join(', ')} (database ${db.name}) that adoption does not move: move them to ${roles.group} by hand or revoke them, then run it again`);
  }
  if (phase === 'finish' && !memberOfGroup(roles, facts)) refuse(`role ${roles.existing} is not yet a member of ${roles.group}: run adopt first, restart the applications, then finish`);
}

function refuse(message: string): never {
  throw new RotationError({ code: 'adoption-refused', stage: STAGE, message });
}

function memberOfGroup(roles: AdoptionRoles, facts: AdoptionFacts): boolean {
  return facts.memberships.some((m) => m.role === roles.group && m.member === roles.existing);
}

// ---- the shared part, run in the main database ----------------------------------------------

function createdRoles(sql: StatementWriter, facts: AdoptionFacts): string[] {
  const { second, group } = sql.roles;
  return [...(facts.roles.group.exists ? [] : [sql.createRole(group)]), ...(facts.roles.second.exists ? [] : [sql.createRole(second)])];
}

/**
 * REASSIGN OWNED, DROP OWNED and default privileges FOR ROLE need the privileges of the
 * existing role and of the group (and, for REASSIGN, SET on the group). A superuser has them;
 * an administrator that is not one (the Entra administrator on Azure) holds ADMIN OPTION on
 * them and borrows them for the transaction only.
 */
function borrowed(sql: StatementWriter, facts: AdoptionFacts, created: string[], work: string[]): string[] {
  const { administrator } = facts;
  if (administrator.superuser || created.length + work.length === 0) return [...created, ...work];
  const lacking = [sql.roles.existing, sql.roles.group].filter((role) => !administrator.hasPrivilegesOf.includes(role));
  return [
    ...created,
    ...lacking.map((role) => sql.borrow(role)),
    ...work,
    ...lacking.map((role) => sql.giveBack(role)),
  ];
}

function adoptShared(sql: StatementWriter, facts: AdoptionFacts): string[] {
  const { existing, second, group } = sql.roles;
  return [
    // An existing membership is left alone: after finish it no longer inherits, and must not again.
    ...(memberOfGroup(sql.roles, facts) ? [] : [sql.grantRole(group, existing, TRANSITIONAL_LOGIN_IN_GROUP)]),
    ...sql.ensureMembership(group, second, LOGIN_IN_GROUP, rows(facts, group, second)),
    ...roleSettings(sql, facts),
    ...otherMemberships(sql, facts).flatMap((m) => sql.ensureMembership(m.role, group, m, rows(facts, m.role, group), false)),
    ...sql.grants(facts.databasePrivileges, group),
    ...connectGrants(sql, facts, [existing, second]),
    // Through the transitional inheritance, an owner inheriting the existing login would reach the group's data.
    ...rows(facts, existing, OWNER).filter((r) => r.inherit).map((r) => sql.grantRole(existing, OWNER, { ...r, inherit: false }, r.grantor)),
    ...sql.ensureMembership(second, OWNER, OWNER_ON_LOGIN, rows(facts, second, OWNER)),
  ];
}

function finishShared(sql: StatementWriter, facts: AdoptionFacts): string[] {
  const { existing, second, group } = sql.roles;
  return [
    ...sql.ensureMembership(group, existing, LOGIN_IN_GROUP, rows(facts, group, existing)),
    ...sql.ensureMembership(group, second, LOGIN_IN_GROUP, rows(facts, group, second)),
    ...roleSettings(sql, facts),
    ...otherMemberships(sql, facts).flatMap((m) => [...sql.ensureMembership(m.role, group, m, rows(facts, m.role, group), false), sql.revokeRole(m.role, existing, m.grantor)]),
    ...sql.grants(facts.databasePrivileges, group),
    ...connectGrants(sql, facts, [second]),
    ...sql.ensureMembership(existing, OWNER, OWNER_ON_LOGIN, rows(facts, existing, OWNER)),
    ...sql.ensureMembership(second, OWNER, OWNER_ON_LOGIN, rows(facts, second, OWNER)),
  ];
}

/** The logins join the allow-list with the owner's grant: the second at adopt, the existing one at finish. */
function allowListed(sql: StatementWriter, facts: AdoptionFacts, phase: AdoptionPhase): string[] {
  const { existing, second } = sql.roles;
  const missing = (phase === 'adopt' ? [second] : [existing, second]).filter((login) => !facts.rotationAdmin.listed.includes(login));
  return missing.length === 0 ? [] : [sql.actAs(OWNER), ...missing.map((login) => sql.allow(login)), 'RESET ROLE'];
}

function rows(facts: AdoptionFacts, role: string, member: string): MembershipRow[] {
  return facts.memberships.filter((m) => m.role === role && m.member === member);
}

/** Roles the existing login is a member of, besides the group: the group takes them over. */
function otherMemberships(sql: StatementWriter, facts: AdoptionFacts): MembershipRow[] {
  const { existing, group } = sql.roles;
  return facts.memberships.filter((m) => m.member === existing && m.role !== group);
}

function roleSettings(sql: StatementWriter, facts: AdoptionFacts): string[] {
  const { existing, second, group } = sql.roles;
  const stale = (state: RoleState) => !state.exists || state.roleSetting !== group;
  return [existing, second].filter((login) => stale(login === existing ? facts.roles.existing : facts.roles.second)).map((login) => sql.setRole(login));
}

/** A login checks CONNECT as itself, before its session becomes the group. */
function connectGrants(sql: StatementWriter, facts: AdoptionFacts, logins: string[]): string[] {
  return facts.connect.flatMap((c) => logins.filter((login) => !c.explicit.includes(login)).map((login) => sql.grantConnect(c.database, login)));
}

// ---- per database -------------------------------------------------------------------------------

function databaseStatements(sql: StatementWriter, facts: AdoptionFacts, db: DatabaseFacts, phase: AdoptionPhase, sharedFootprint: boolean): string[] {
  const { existing, group } = sql.roles;
  const moves = [...sql.grants(db.privileges, group), ...db.defaults.filter((d) => !d.done).map((d) => sql.defaultPrivilege(d)), ...db.policies.filter((p) => !p.roles.includes(group)).map((p) => sql.addGroupToPolicy(p))];
  if (phase === 'adopt') return [...moves, ...(db.ownedObjects > 0 ? [sql.reassign()] : [])];
  const footprint = db.ownedObjects > 0 || db.privileges.length > 0 || db.defaults.length > 0 || db.policies.length > 0;
  if (!footprint && !sharedFootprint) return [];
  // DROP OWNED also revokes the role's privileges on databases, CONNECT included: give CONNECT back.
  return [...moves, sql.reassign(), sql.dropOwned(), ...facts.connect.map((c) => sql.grantConnect(c.database, existing))];
}

function notesFor(roles: AdoptionRoles, facts: AdoptionFacts): string[] {
  const notes: string[] = [];
  const attributes = facts.roles.existing.attributes;
  if (attributes.length > 0) notes.push(`${roles.existing} has ${attributes.join(', ')}; sessions now act as ${roles.group}, which does not: grant them to ${roles.group} if the application needs them`);
  for (const db of facts.databases.filter((d) => d.schemaNamedAfterRole)) {
    notes.push(`schema ${roles.existing} in database ${safeName(db.name)} was reached through "$user" in search_path; sessions now run as ${roles.group}: set search_path for both logins if the application relies on it`);
  }
  return notes;
}

// ---- SQL text -----------------------------------------------------------------------------------

const DEFAULT_OBJECT_TYPES: Record<string, string> = { r: 'TABLES', S: 'SEQUENCES', f: 'FUNCTIONS', T: 'TYPES', n: 'SCHEMAS' };

/** Every identifier goes through the driver's quoting; privilege keywords come from the catalog. */
class StatementWriter {
  constructor(readonly roles: AdoptionRoles, private readonly quote: Quote) {}

  q(identifier: string): string {
    return this.quote.identifier(safeName(identifier));
  }

  actAs(role: string): string {
    return `SET ROLE ${this.q(role)}`;
  }

  allow(login: string): string {
    return `INSERT INTO credential_rotation.managed_role (role_name) VALUES (${this.quote.literal(safeName(login))}) ON CONFLICT DO NOTHING`;
  }

  createRole(role: string): string {
    return `CREATE ROLE ${this.q(role)} NOLOGIN`;
  }

  setRole(login: string): string {
    return `ALTER ROLE ${this.q(login)} SET role = ${this.q(this.roles.group)}`;
  }

  grantRole(role: string, member: string, o: MembershipOptions, grantor?: string): string {
    const by = grantor ? ` GRANTED BY ${this.q(grantor)}` : '';
    return `GRANT ${this.q(role)} TO ${this.q(member)} WITH ADMIN ${o.admin ? 'TRUE' : 'FALSE'}, INHERIT ${o.inherit ? 'TRUE' : 'FALSE'}, SET ${o.set ? 'TRUE' : 'FALSE'}${by}`;
  }

  revokeRole(role: string, member: string, grantor: string): string {
    return `REVOKE ${this.q(role)} FROM ${this.q(member)} GRANTED BY ${this.q(grantor)}`;
  }

  /**
   * The membership ends with exactly these options (or, when `exact` is false, at least
   * these): each grantor's row is updated in place, so no second row keeps an old option.
   */
  ensureMembership(role: string, member: string, want: MembershipOptions, existing: MembershipRow[], exact = true): string[] {
    if (existing.length === 0) return [this.grantRole(role, member, want)];
    const covers = (r: MembershipRow) => (exact ? r.admin === want.admin && r.inherit === want.inherit && r.set === want.set : (r.admin || !want.admin) && (r.inherit || !want.inherit) && (r.set || !want.set));
    if (!exact && existing.some(covers)) return [];
    return existing.filter((r) => !covers(r)).map((r) => this.grantRole(role, member, want, r.grantor));
  }

  grants(privileges: HeldPrivilege[], grantee: string): string[] {
    return privileges.filter((p) => !p.heldByGroup).map((p) => `GRANT ${p.privilege}${p.column ? ` (${this.q(p.column)})` : ''} ON ${this.objectOf(p)} TO ${this.q(grantee)}${p.grantable ? ' WITH GRANT OPTION' : ''}`);
  }

  reassign(): string {
    return `REASSIGN OWNED BY ${this.q(this.roles.existing)} TO ${this.q(this.roles.group)}`;
  }

  dropOwned(): string {
    return `DROP OWNED BY ${this.q(this.roles.existing)}`;
  }

  grantConnect(database: string, login: string): string {
    return `GRANT CONNECT ON DATABASE ${this.q(database)} TO ${this.q(login)}`;
  }

  borrow(role: string): string {
    return `GRANT ${this.q(role)} TO CURRENT_USER WITH INHERIT TRUE, SET TRUE`;
  }

  giveBack(role: string): string {
    return `REVOKE ${this.q(role)} FROM CURRENT_USER`;
  }

  addGroupToPolicy(p: PolicyFact): string {
    const roles = [...p.roles, this.roles.group].map((r) => (r === null ? 'PUBLIC' : this.q(r)));
    return `ALTER POLICY ${this.q(p.name)} ON ${this.q(p.schema)}.${this.q(p.table)} TO ${roles.join(', ')}`;
  }

  defaultPrivilege(d: DefaultPrivilegeChange): string {
    const objects = DEFAULT_OBJECT_TYPES[d.objectType];
    if (!objects) refuse(`default privileges on object type "${d.objectType}" are not supported by adoption`);
    const translate = (role: string | null) => (role === null || role === this.roles.existing ? this.roles.group : role);
    const owner = translate(d.owner);
    const grantee = d.grantee === null ? 'PUBLIC' : this.q(translate(d.grantee));
    const scope = `ALTER DEFAULT PRIVILEGES FOR ROLE ${this.q(owner)}${d.schema ? ` IN SCHEMA ${this.q(d.schema)}` : ''}`;
    if (d.action === 'revoke') return `${scope} REVOKE ${d.privilege} ON ${objects} FROM ${grantee}`;
    return `${scope} GRANT ${d.privilege} ON ${objects} TO ${grantee}${d.grantable ? ' WITH GRANT OPTION' : ''}`;
  }

  private objectOf(p: HeldPrivilege): string {
    const name = p.schema ? `${this.q(p.schema)}.${this.q(p.name)}` : this.q(p.name);
    switch (p.kind) {
      case 'table':
      case 'column':
        return `TABLE ${name}`;
      case 'routine':
        return `ROUTINE ${name}(${p.signature ?? ''})`;
      default:
        return `${p.kind.toUpperCase()} ${name}`;
    }
  }
}
