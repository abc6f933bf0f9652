extension DocsPage {
    /// One page, styled inline: operators open it in closed networks.
    static let template = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} — API reference</title>
        <style>
          :root { --fg: #1d2330; --muted: #5b6475; --line: #dde2ea; --bg: #f6f8fb; --accent: #2f5fd0; }
          * { box-sizing: border-box; }
          body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #fff; }
          header { padding: 28px 40px 20px; border-bottom: 1px solid var(--line); background: var(--bg); }
          header h1 { margin: 0 0 4px; font-size: 26px; }
          header .version { color: var(--muted); }
          .intro { max-width: 900px; }
          .intro h2 { font-size: 17px; border: 0; margin: 18px 0 4px; padding: 0; }
          .intro table { width: auto; background: #fff; }
          nav { padding: 12px 40px; border-bottom: 1px solid var(--line); }
          nav a { margin-right: 18px; color: var(--accent); text-decoration: none; }
          main { padding: 8px 40px 60px; max-width: 1100px; }
          h2 { margin: 36px 0 4px; font-size: 21px; border-bottom: 2px solid var(--line); padding-bottom: 6px; }
          .tag-description { color: var(--muted); margin: 4px 0 16px; }
          section.operation { border: 1px solid var(--line); border-radius: 8px; margin: 16px 0; padding: 14px 18px; }
          .signature { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
          .method { font: 600 12px/1 ui-monospace, monospace; padding: 5px 8px; border-radius: 4px; color: #fff; min-width: 62px; text-align: center; }
          .get { background: #2f7d4f; } .post { background: #2f5fd0; } .put { background: #8a5a00; }
          .patch { background: #6f42c1; } .delete { background: #b3261e; } .head, .options, .trace { background: #5b6475; }
          .path { font: 600 15px ui-monospace, monospace; }
          .summary { color: var(--muted); }
          .auth { font-size: 13px; color: var(--muted); margin: 6px 0; }
          .description { margin: 8px 0; }
          .description p, td p { margin: 4px 0; }
          table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 14px; }
          th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
          th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
          code, .mono { font-family: ui-monospace, monospace; font-size: 13px; }
          h4 { margin: 12px 0 2px; font-size: 14px; }
          .s2 { color: #2f7d4f; } .s3 { color: #5b6475; } .s4 { color: #8a5a00; } .s5 { color: #b3261e; }
          .required { color: #b3261e; font-size: 12px; }
        </style>
        </head>
        <body>
        <header>
          <h1>{{title}}</h1>
          <div class="version">version {{version}} · machine-readable: <a href="/openapi.yaml">openapi.yaml</a> · <a href="/openapi.json">openapi.json</a></div>
          <div class="intro">{{{description}}}</div>
        </header>
        <nav>{{#tags}}<a href="#tag-{{name}}">{{name}}</a>{{/tags}}<a href="#error-codes">error codes</a></nav>
        <main>
        {{#tags}}
        <h2 id="tag-{{name}}">{{name}}</h2>
        <div class="tag-description">{{{description}}}</div>
        {{#operations}}
        <section class="operation" id="op-{{id}}">
          <div class="signature"><span class="method {{methodClass}}">{{method}}</span><span class="path">{{path}}</span><span class="summary">{{summary}}</span></div>
          <div class="auth">Auth: {{auth}} · operation <code>{{id}}</code></div>
          <div class="description">{{{description}}}</div>
          {{#hasParameters}}
          <h4>Parameters</h4>
          <table><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>
          {{#parameters}}<tr><td class="mono">{{name}}{{#required}} <span class="required">required</span>{{/required}}</td><td>{{in}}</td><td class="mono">{{type}}</td><td>{{{description}}}</td></tr>{{/parameters}}
          </table>
          {{/hasParameters}}
          {{#body}}
          <h4>Request body <span class="mono">{{contentType}}</span> — {{schemaName}}{{#required}} <span class="required">required</span>{{/required}}</h4>
          <table><tr><th>field</th><th>type</th><th>constraints</th><th>description</th></tr>
          {{#fields}}<tr><td class="mono">{{name}}{{#required}} <span class="required">required</span>{{/required}}</td><td class="mono">{{type}}</td><td>{{constraints}}</td><td>{{{description}}}</td></tr>{{/fields}}
          </table>
          {{/body}}
          <h4>Responses</h4>
          <table><tr><th>status</th><th>content</th><th>meaning</th></tr>
          {{#responses}}<tr><td class="mono {{class}}">{{code}}</td><td class="mono">{{contentType}}</td><td>{{{description}}}</td></tr>{{/responses}}
          </table>
        </section>
        {{/operations}}
        {{/tags}}
        <h2 id="error-codes">Error codes</h2>
        <p class="tag-description">Every error answers <code>{"error": {"code", "message", "details", "request_id", "timestamp"}}</code>.</p>
        <table><tr><th>code</th><th>HTTP</th><th>meaning</th></tr>
        {{#errorCodes}}<tr><td class="mono">{{code}}</td><td class="mono">{{status}}</td><td>{{{meaning}}}</td></tr>{{/errorCodes}}
        </table>
        </main>
        </body>
        </html>
        """#
}
