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
    SELECT s.id, s.status, s.attempts, s.progress, s.checkpoint, s.result::text, s.error::text, s.updated_at FROM started s
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
END
$function$;

CREATE OR REPLACE FUNCTION ams_task_progress(p_tenant text, p_id uuid, p_progress integer, p_checkpoint bigint, p_result jsonb)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    WITH moved AS (
        UPDATE tasks SET progress = p_progress, checkpoint = p_checkpoint, result = p_result, updated_at = now()
        WHERE tenant_id = p_tenant AND id = p_id AND status = 'processing'
        RETURNING message, progress
    )
    INSERT INTO outbox (tenant_id, event, task_id, global_task_id, data)
    SELECT p_tenant, 'task_status_update', (m.message ->> 'task_id')::uuid, m.message ->> 'global_task_id',
        jsonb_build_object('status', 'processing', 'progress', m.progress, 'details', p_result)
    FROM moved m;
END
$function$;

DROP POLICY IF EXISTS tenant_isolation ON tasks;
CREATE POLICY tenant_isolation ON tasks
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
