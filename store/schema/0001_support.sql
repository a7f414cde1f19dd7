-- 0001: the support schema (DESIGN.md "Data model").
--
-- Every replicated table has `id TEXT PRIMARY KEY` (UUIDv7, minted offline)
-- and `unit_id TEXT` (the owning unit's node id; the routing key; NULL in
-- central-scope tables). Tables are STRICT so a value of the wrong type is
-- refused by SQLite itself, for local writes and merged changesets alike.
-- Statuses are CHECKed here; which transitions are legal is enforced on
-- local writes by the triggers at the end of this file.
--
-- No UNIQUE constraint besides the primary key: two replicas may insert
-- "the same" thing concurrently, and a merge must never fail on that.
-- Foreign keys are checked for local writes; merges may deliver a child
-- before its parent, so the engine applies changesets with them off.

-- Reference data, written at central, read by every unit. ----------------

CREATE TABLE unit (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT,                       -- NULL: central scope.
  node_id TEXT NOT NULL,              -- The unit's node id (its certificate's id).
  name TEXT NOT NULL,
  municipality TEXT,
  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) STRICT;

CREATE TABLE action_type (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT,
  code TEXT NOT NULL,
  name TEXT NOT NULL,
  level TEXT NOT NULL
    CHECK (level IN ('ea', 'sarskilt_stod', 'elevhalsa', 'mentor', 'franvaro', 'annat')),
  needs_decision INTEGER NOT NULL DEFAULT 0 CHECK (needs_decision IN (0, 1)),
  version INTEGER NOT NULL DEFAULT 1,
  valid_from TEXT NOT NULL,
  valid_to TEXT
) STRICT;
CREATE INDEX action_type_code ON action_type(code);

CREATE TABLE staff (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT,
  display_name TEXT NOT NULL,
  role TEXT NOT NULL,
  central_resource INTEGER NOT NULL DEFAULT 0 CHECK (central_resource IN (0, 1)),
  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) STRICT;

-- Unit data, owned by one unit, written by that unit and by central. ------

CREATE TABLE student (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT NOT NULL,
  pseudo_id TEXT NOT NULL,            -- HMAC of the identity number under a unit-held key.
  personnummer TEXT,                  -- Local-only: never leaves the unit.
  name TEXT,                          -- Local-only: never leaves the unit.
  birth_year INTEGER,
  grade TEXT,
  protected_identity INTEGER NOT NULL DEFAULT 0 CHECK (protected_identity IN (0, 1))
) STRICT;
CREATE INDEX student_unit ON student(unit_id);
CREATE INDEX student_pseudo ON student(pseudo_id);

CREATE TABLE support_case (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT NOT NULL,
  student_id TEXT NOT NULL REFERENCES student(id),
  opened_on TEXT NOT NULL,
  closed_on TEXT,
  status TEXT NOT NULL DEFAULT 'oppen' CHECK (status IN ('oppen', 'avslutad')),
  reason TEXT
) STRICT;
CREATE INDEX support_case_unit ON support_case(unit_id);
CREATE INDEX support_case_student ON support_case(student_id);

CREATE TABLE support_action (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT NOT NULL,
  case_id TEXT NOT NULL REFERENCES support_case(id),
  action_type TEXT NOT NULL,          -- action_type.code (catalogue is versioned by code).
  description TEXT,
  responsible TEXT,
  provider TEXT NOT NULL DEFAULT 'unit' CHECK (provider IN ('unit', 'central_resurs')),
  start_on TEXT NOT NULL,
  end_on TEXT,
  status TEXT NOT NULL DEFAULT 'planerad'
    CHECK (status IN ('planerad', 'pagaende', 'avslutad', 'avbruten'))
) STRICT;
CREATE INDEX support_action_unit ON support_action(unit_id);
CREATE INDEX support_action_case ON support_action(case_id);

CREATE TABLE decision (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT NOT NULL,
  case_id TEXT NOT NULL REFERENCES support_case(id),
  kind TEXT NOT NULL CHECK (kind IN ('atgardsprogram', 'ej_atgardsprogram',
    'sarskild_undervisningsgrupp', 'enskild_undervisning', 'anpassad_studiegang', 'annat')),
  decided_by TEXT NOT NULL,
  decided_on TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'preliminar' CHECK (status IN ('preliminar', 'slutlig')),
  appeal_status TEXT NOT NULL DEFAULT 'none'
    CHECK (appeal_status IN ('none', 'overklagad', 'faststalld', 'upphavd', 'aterforvisad'))
) STRICT;
CREATE INDEX decision_unit ON decision(unit_id);
CREATE INDEX decision_case ON decision(case_id);

CREATE TABLE action_program (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT NOT NULL,
  case_id TEXT NOT NULL REFERENCES support_case(id),
  decision_id TEXT REFERENCES decision(id),
  needs TEXT,
  followup_plan TEXT,
  evaluation_due_on TEXT,
  status TEXT NOT NULL DEFAULT 'utkast' CHECK (status IN ('utkast', 'aktivt', 'avslutat'))
) STRICT;
CREATE INDEX action_program_unit ON action_program(unit_id);
CREATE INDEX action_program_case ON action_program(case_id);

CREATE TABLE followup (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT NOT NULL,
  action_id TEXT NOT NULL REFERENCES support_action(id),
  followed_up_on TEXT NOT NULL,
  notes TEXT,
  next_followup_on TEXT
) STRICT;
CREATE INDEX followup_unit ON followup(unit_id);
CREATE INDEX followup_action ON followup(action_id);

CREATE TABLE evaluation (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT NOT NULL,
  action_program_id TEXT NOT NULL REFERENCES action_program(id),
  evaluated_on TEXT NOT NULL,
  matched_needs TEXT NOT NULL CHECK (matched_needs IN ('ja', 'delvis', 'nej')),
  result TEXT,
  absence_before_pct REAL,
  absence_after_pct REAL
) STRICT;
CREATE INDEX evaluation_unit ON evaluation(unit_id);

CREATE TABLE eht_meeting (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT NOT NULL,
  case_id TEXT REFERENCES support_case(id),
  held_on TEXT NOT NULL,
  participants TEXT,
  notes TEXT
) STRICT;
CREATE INDEX eht_meeting_unit ON eht_meeting(unit_id);

CREATE TABLE coaching_booking (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT NOT NULL,
  case_id TEXT REFERENCES support_case(id),
  staff_id TEXT REFERENCES staff(id),
  starts_at TEXT NOT NULL,
  ends_at TEXT,
  status TEXT NOT NULL DEFAULT 'bokad' CHECK (status IN ('bokad', 'genomford', 'avbokad'))
) STRICT;
CREATE INDEX coaching_booking_unit ON coaching_booking(unit_id);

CREATE TABLE assignment (
  id TEXT PRIMARY KEY NOT NULL,
  unit_id TEXT NOT NULL,
  case_id TEXT NOT NULL REFERENCES support_case(id),
  staff_id TEXT NOT NULL REFERENCES staff(id),
  granted_on TEXT NOT NULL,
  revoked_on TEXT
) STRICT;
CREATE INDEX assignment_unit ON assignment(unit_id);

-- Status transitions, checked on local writes only (a merge applies the
-- winning state as is: replicas must converge even if a rule changes).
-- `_us_applying` holds a row only inside the engine's own apply transaction.

CREATE TRIGGER decision_final_is_immutable BEFORE UPDATE ON decision
WHEN NOT EXISTS (SELECT 1 FROM _us_applying) AND OLD.status = 'slutlig' AND (
  NEW.status IS NOT OLD.status OR NEW.kind IS NOT OLD.kind OR
  NEW.decided_by IS NOT OLD.decided_by OR NEW.decided_on IS NOT OLD.decided_on OR
  NEW.case_id IS NOT OLD.case_id OR NEW.unit_id IS NOT OLD.unit_id)
BEGIN
  SELECT RAISE(ABORT, 'decision is final (slutlig): only appeal_status may change');
END;

CREATE TRIGGER decision_appeal_transition BEFORE UPDATE OF appeal_status ON decision
WHEN NOT EXISTS (SELECT 1 FROM _us_applying) AND NEW.appeal_status IS NOT OLD.appeal_status
  AND NOT (
    (OLD.appeal_status = 'none' AND NEW.appeal_status = 'overklagad' AND OLD.status = 'slutlig')
    OR (OLD.appeal_status = 'overklagad'
        AND NEW.appeal_status IN ('faststalld', 'upphavd', 'aterforvisad')))
BEGIN
  SELECT RAISE(ABORT, 'illegal appeal_status transition');
END;
