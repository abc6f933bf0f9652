-- Tasks: the records of queued work, started and finished in batches.
-- The current definitions, applied after the numbered history (see SchemaDefinitions.swift).

CREATE OR REPLACE FUNCTION ams_start_tasks(p_tenant text, p_messages text[])
 RETURNS TABLE(task_id uuid, status text, attempts integer, progress integer, checkpoint bigint, result text, error text, updated_at timestamp with time zone)
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_given jsonb[];
    v_ids uuid[];
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT array_agg(m::jsonb), array_agg((m::jsonb ->> 'task_id')::uuid) INTO v_given, v_ids FROM unnest(p_messages) AS m;
    RETURN QUERY
    WITH started AS (
        INSERT INTO tasks AS t (tenant_id, id, type, status, message, attempts)
        SELECT p_tenant, (g ->> 'task_id')::uuid, g ->> 'type', 'processing', g, 1 FROM unnest(v_given) AS g
        ON CONFLICT (tenant_id, id) DO UPDATE SET status = 'processing', attempts = t.attempts + 1, updated_at = now()
            WHERE t.status NOT IN ('completed', 'failed')
        RETURNING t.id, t.message, t.status, t.attempts, t.progress, t.checkpoint, t.result, t.error, t.updated_at
    ), events AS (
        INSERT INTO outbox (tenant_id, event, task_id, global_task_id, data)
        SELECT p_tenant, 'task_status_update', s.id, s.message ->> 'global_task_id',
            jsonb_build_object('status', 'processing', 'progress', s.progress, 'details', jsonb_build_object('attempt', s.attempts))
        FROM started s
    )
    SELECT s.id, s.status, s.attempts, s.progress, s.checkpoint, ams_task_result(p_tenant, s.id, s.result)::text, s.error::text, s.updated_at
    FROM started s
    UNION ALL
    SELECT t.id, t.status, t.attempts, t.progress, t.checkpoint, t.result::text, t.error::text, t.updated_at FROM tasks t
    WHERE t.tenant_id = p_tenant AND t.id = ANY (v_ids) AND t.status IN ('completed', 'failed');
END
$function$;

-- A finished validation of a configuration is also announced as `validation_complete`.
CREATE OR REPLACE FUNCTION ams_finish_tasks(p_tenant text, p_ids uuid[], p_statuses text[], p_results text[], p_errors text[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    WITH given AS (
        SELECT * FROM unnest(p_ids, p_statuses, p_results, p_errors) AS g(id, status, result, error)
    ), finished AS (
        UPDATE tasks t SET status = g.status, result = nullif(g.result, '')::jsonb, error = nullif(g.error, '')::jsonb,
            progress = CASE WHEN g.status = 'completed' THEN 100 ELSE t.progress END, updated_at = now()
        FROM given g
        WHERE t.tenant_id = p_tenant AND t.id = g.id AND t.status NOT IN ('completed', 'failed')
        RETURNING t.id, t.type, t.message ->> 'global_task_id' AS global_task_id, t.status, t.result, t.error
    )
    INSERT INTO outbox (tenant_id, event, agent_id, task_id, global_task_id, data)
    SELECT p_tenant, e.event, (f.result ->> 'agent_id')::uuid, f.id, f.global_task_id,
        CASE WHEN f.status = 'completed' THEN coalesce(f.result, '{}')
             ELSE jsonb_build_object('error', f.error ->> 'message', 'error_type', f.error ->> 'error_type') END
    FROM finished f
    CROSS JOIN LATERAL (
        SELECT CASE WHEN f.status = 'completed' THEN 'task_completed' ELSE 'task_failed' END AS event, 1 AS n
        UNION ALL
        SELECT 'validation_complete', 0 WHERE f.status = 'completed' AND f.type = 'agent_validate'
    ) e
    ORDER BY f.id, e.n;
    -- A finished task's result is whole: the steps it was reported in are done with.
    DELETE FROM task_steps WHERE tenant_id = p_tenant AND task_id = ANY (p_ids);
END
$function$;

-- A report of a long task's progress: `p_result` is what it did since its last report (a step of its
-- own, see ams_task_result), so a report costs what it adds; its event carries the same.
CREATE OR REPLACE FUNCTION ams_task_progress(p_tenant text, p_id uuid, p_progress integer, p_checkpoint bigint, p_result jsonb)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    WITH moved AS (
        UPDATE tasks SET progress = p_progress, checkpoint = p_checkpoint, updated_at = now()
        WHERE tenant_id = p_tenant AND id = p_id AND status = 'processing'
        RETURNING message, progress
    ), kept AS (
        INSERT INTO task_steps (tenant_id, task_id, added) SELECT p_tenant, p_id, p_result FROM moved WHERE p_result IS NOT NULL
    )
    INSERT INTO outbox (tenant_id, event, task_id, global_task_id, data)
    SELECT p_tenant, 'task_status_update', (m.message ->> 'task_id')::uuid, m.message ->> 'global_task_id',
        jsonb_build_object('status', 'processing', 'progress', m.progress, 'details', p_result)
    FROM moved m;
END
$function$;

-- A task's result so far: `p_result` (what was stored whole) with its steps after it, in order; an
-- array member of a step is appended to the result's, any other member replaces the result's.
CREATE OR REPLACE FUNCTION ams_task_result(p_tenant text, p_id uuid, p_result jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    v_merged jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM task_steps s WHERE s.tenant_id = p_tenant AND s.task_id = p_id) THEN
        RETURN p_result;
    END IF;
    WITH parts AS (
        SELECT 0::bigint AS step, p_result AS added WHERE jsonb_typeof(p_result) = 'object'
        UNION ALL
        SELECT s.step, s.added FROM task_steps s WHERE s.tenant_id = p_tenant AND s.task_id = p_id AND jsonb_typeof(s.added) = 'object'
    ), members AS (
        SELECT p.step, m.key, m.value FROM parts p CROSS JOIN LATERAL jsonb_each(p.added) m
    ), merged AS (
        SELECT m.key,
            CASE WHEN bool_and(jsonb_typeof(m.value) = 'array')
                THEN coalesce(jsonb_agg(e.element ORDER BY m.step, e.n) FILTER (WHERE e.element IS NOT NULL), '[]'::jsonb)
                ELSE (array_agg(m.value ORDER BY m.step DESC))[1] END AS value
        FROM members m
        LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(m.value) = 'array' THEN m.value END) WITH ORDINALITY AS e(element, n) ON true
        GROUP BY m.key
    )
    SELECT coalesce(jsonb_object_agg(merged.key, merged.value), '{}'::jsonb) INTO v_merged FROM merged;
    RETURN v_merged;
END
$function$;

-- Finished tasks past the retention window (at least an hour, whatever the caller asks: the service's
-- role cannot empty every tenant's history), a batch at a time, across tenants (their steps go with
-- them); one replica at a time (a transaction-scoped advisory lock, "AMST").
CREATE OR REPLACE FUNCTION ams_purge_tasks(p_retention interval, p_batch integer)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    v_count integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(1095586644) THEN
        RETURN 0;
    END IF;
    PERFORM set_config('app.purge', 'on', true);
    DELETE FROM tasks WHERE (tenant_id, id) IN (
        SELECT t.tenant_id, t.id FROM tasks t
        WHERE t.status IN ('completed', 'failed') AND t.updated_at < now() - greatest(p_retention, interval '1 hour') LIMIT p_batch);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$function$;

-- A `revalidate_tenant` task for each tenant, recorded in the transaction of the change that calls
-- for it (a tier or tool catalog change), until ams_settle_revalidations hears it is queued.
CREATE OR REPLACE FUNCTION ams_record_revalidations(p_tenants text[], p_reason text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    INSERT INTO revalidations (tenant_id, reason) SELECT DISTINCT t, p_reason FROM unnest(p_tenants) AS t;
END
$function$;

-- Recorded revalidations that are due, oldest first, each handed out for `p_lease` (to one caller at
-- a time); one not settled by then is handed out again.
CREATE OR REPLACE FUNCTION ams_claim_revalidations(p_limit integer, p_lease interval)
 RETURNS TABLE(task_id uuid, tenant_id text, reason text, created_at timestamp with time zone)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    RETURN QUERY
    UPDATE revalidations r SET due_at = now() + p_lease
    WHERE r.task_id IN (
        SELECT d.task_id FROM revalidations d WHERE d.due_at <= now() ORDER BY d.created_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
    RETURNING r.task_id, r.tenant_id, r.reason, r.created_at;
END
$function$;

-- Revalidations now on their tenants' queues are forgotten; those that could not be queued are due again.
CREATE OR REPLACE FUNCTION ams_settle_revalidations(p_queued uuid[], p_retry uuid[])
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    DELETE FROM revalidations r WHERE r.task_id = ANY (p_queued);
    UPDATE revalidations r SET due_at = now() WHERE r.task_id = ANY (p_retry);
END
$function$;

DROP POLICY IF EXISTS tenant_isolation ON tasks;
CREATE POLICY tenant_isolation ON tasks
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

DROP POLICY IF EXISTS tenant_isolation ON task_steps;
CREATE POLICY tenant_isolation ON task_steps
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Cross-tenant rows are for the tables' owner only (TO CURRENT_USER names the role installing the policy), in the
-- SECURITY DEFINER functions doing that work: a role of the service that sets the same setting sees nothing more.
DROP POLICY IF EXISTS purge_read ON tasks;
CREATE POLICY purge_read ON tasks FOR SELECT TO CURRENT_USER
    USING (status IN ('completed', 'failed') AND current_setting('app.purge', true) = 'on');

DROP POLICY IF EXISTS purge_delete ON tasks;
CREATE POLICY purge_delete ON tasks FOR DELETE TO CURRENT_USER
    USING (status IN ('completed', 'failed') AND current_setting('app.purge', true) = 'on');
