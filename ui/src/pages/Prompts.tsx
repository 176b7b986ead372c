import { useState } from "preact/hooks";
import { api, unwrap, type Schemas } from "../lib/api";
import { Chip, Empty, Guarded, PageHeader, Pager, Show, useAsync, useCursorPaging, useNotice } from "../components";
import { formatRelative, formatTime } from "../lib/format";
import { Link, href, navigate, setQuery, useLocation } from "../lib/router";

type Filters = { prefix: string; mode: "" | "full" | "tracking"; owner_team: string; include_archived: boolean };

export function PromptsPage() {
  const { query } = useLocation();
  const filters: Filters = {
    prefix: query.get("prefix") ?? "",
    mode: (query.get("mode") as Filters["mode"]) ?? "",
    owner_team: query.get("owner_team") ?? "",
    include_archived: query.get("archived") === "1",
  };
  const paging = useCursorPaging();
  const { cursor } = paging;
  const [creating, setCreating] = useState(false);
  const list = useAsync(
    async () =>
      unwrap(
        await api.GET("/v1/prompts", {
          params: {
            query: {
              prefix: filters.prefix || undefined,
              mode: filters.mode || undefined,
              owner_team: filters.owner_team || undefined,
              include_archived: filters.include_archived || undefined,
              cursor,
              limit: 25,
            },
          },
        }),
      ),
    [filters.prefix, filters.mode, filters.owner_team, filters.include_archived, cursor],
  );
  const update = (next: Partial<Filters>) => {
    const f = { ...filters, ...next };
    paging.setTrail([]);
    setQuery({ prefix: f.prefix, mode: f.mode, owner_team: f.owner_team, archived: f.include_archived ? "1" : "" });
  };

  return (
    <section>
      <PageHeader title="Prompts">
        <Guarded needs="write" onClick={() => setCreating(!creating)}>
          {creating ? "Close" : "New prompt"}
        </Guarded>
      </PageHeader>
      {creating && <NewPrompt />}
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Name prefix
          <input type="search" value={filters.prefix} placeholder="support." onInput={(e) => update({ prefix: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          Mode
          <select value={filters.mode} onChange={(e) => update({ mode: (e.target as HTMLSelectElement).value as Filters["mode"] })}>
            <option value="">Any</option>
            <option value="full">Full</option>
            <option value="tracking">Tracking</option>
          </select>
        </label>
        <label>
          Owner team
          <input value={filters.owner_team} onChange={(e) => update({ owner_team: (e.target as HTMLInputElement).value })} />
        </label>
        <label class="check">
          <input type="checkbox" checked={filters.include_archived} onChange={(e) => update({ include_archived: (e.target as HTMLInputElement).checked })} />
          Include archived
        </label>
      </form>
      <Show state={list} what="Loading prompts">
        {(page) =>
          page.data.length === 0 ? (
            <Empty title={cursor ? "No more prompts." : "No prompts match."}>
              {!cursor && <p>Create one with “New prompt”, or register prompts from code with <code>POST /v1/prompts:register</code>.</p>}
            </Empty>
          ) : (
            <>
              <div class="table-wrap">
                <table class="table" aria-label="Prompts">
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Description</th>
                      <th scope="col">Team</th>
                      <th scope="col">Mode</th>
                      <th scope="col">Active</th>
                      <th scope="col">Latest</th>
                      <th scope="col">Updated</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.map((p) => (
                      <tr key={p.id}>
                        <td>
                          <Link href={href.prompt(p.name)} class="strong">
                            {p.name}
                          </Link>{" "}
                          {p.archived && <Chip status="archived" />}
                        </td>
                        <td class="clip">{p.description || <span class="muted">–</span>}</td>
                        <td>{p.owner_team ?? <span class="muted">–</span>}</td>
                        <td>{p.mode}</td>
                        <td>{p.active_version ? `v${p.active_version}` : <span class="muted">none</span>}</td>
                        <td>{p.latest_version ? `v${p.latest_version}` : "–"}</td>
                        <td title={formatTime(p.updated_at)}>{formatRelative(p.updated_at)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <Pager paging={paging} next={page.next_cursor} />
            </>
          )
        }
      </Show>
    </section>
  );
}



function NewPrompt() {
  const [form, setForm] = useState({ name: "", description: "", owner_team: "", template: "" });
  const notice = useNotice();
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  return (
    <form
      class="card form"
      aria-label="New prompt"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          const body: Schemas["CreatePrompt"] = {
            name: form.name.trim(),
            description: form.description,
            owner_team: form.owner_team.trim() || undefined,
          };
          if (form.template.trim()) body.template = form.template;
          const created = unwrap(await api.POST("/v1/prompts", { body }));
          navigate(href.prompt(created.name));
        } catch (error) {
          notice.fail(error);
        }
      }}
    >
      <h2>New prompt</h2>
      <div class="grid2">
        <label>
          Name
          <input name="name" required value={form.name} onInput={set("name")} placeholder="support.reply" />
        </label>
        <label>
          Owner team
          <input name="owner_team" value={form.owner_team} onInput={set("owner_team")} />
        </label>
      </div>
      <label>
        Description
        <input name="description" value={form.description} onInput={set("description")} />
      </label>
      <label>
        First version's template (optional, Jinja)
        <textarea name="template" rows={4} value={form.template} onInput={set("template")} class="mono" />
      </label>
      {notice.view}
      <div class="actions">
        <button type="submit" class="button">
          Create prompt
        </button>
      </div>
    </form>
  );
}
