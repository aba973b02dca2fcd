"""Jinja2 templates of the monthly review.

Kept as strings so they ship inside the package without package-data entries. The HTML
template is rendered with autoescaping; the Markdown one escapes text through the
``md`` filter; charts are SVG produced by :mod:`tocsin.metrics.charts`, left out (with
their heading) when the review is rendered without them.
"""

from __future__ import annotations

__all__ = ["HTML", "MARKDOWN"]

MARKDOWN = """\
## Incident Review: {{ r.title }}

_Period: {{ r.start | day }} to {{ r.last_day | day }} (UTC){% if r.partial %}, \
figures as of {{ r.as_of | stamp }}{% endif %}. Drills are not counted\
{% if r.drills_excluded %} ({{ r.drills_excluded }} this month){% endif %}._

### Summary
- Total incidents: {{ r.total }}{% if not r.total %} (none was detected this month){% endif %}
- {% for name, count in r.by_severity.items() %}{{ name | md }}: {{ count }}\
{% if not loop.last %}, {% endif %}{% endfor %}
- MTTR average: {{ r.mttr.mean | dur }} (median {{ r.mttr.median | dur }}, \
p90 {{ r.mttr.p90 | dur }}; detection to resolution)
- Error budget remaining: {% if r.budgets %}{% for b in r.budgets %}\
{{ b.service | md }} {{ b.remaining_percent | pct }}{% if not loop.last %}, {% endif %}\
{% endfor %}{% else %}no SLOs defined{% endif %}

### Time to resolve by severity
{% if r.mttr_by_severity %}
| Severity | Resolved | Mean | Median | p90 | Target | Mean within target |
|---|---:|---:|---:|---:|---:|---|
{% for name, s in r.mttr_by_severity.items() -%}
| {{ name | md }} | {{ s.count }} | {{ s.mean | dur }} | {{ s.median | dur }} \
| {{ s.p90 | dur }} | {{ r.resolve_targets.get(name) | dur }} | {{ r.target_met(name) }} |
{% endfor %}{% else %}
_{{ r.nothing_resolved }}_
{% endif %}
### Error budgets
{% if r.budgets %}
| Service | Objective | Availability | Budget | Spent | Remaining |
|---|---:|---:|---:|---:|---:|
{% for b in r.budgets -%}
| {{ b.service | md }} | {{ b.objective }} % over {{ b.window_seconds | dur }} \
| {{ b.availability_percent | avail }} | {{ b.budget_seconds | dur }} \
| {{ b.consumed_seconds | dur }} | {{ b.remaining_percent | pct }} |
{% endfor %}{% else %}
No service level objectives are defined in the policy.
{% endif %}
### Top Incident Categories
{% if r.categories %}
{% for name, count in r.categories %}{{ loop.index }}. {{ name | md }} - {{ count }}
{% endfor %}{% else %}
_{{ r.categories_note }} Most frequent incident tags instead:_

{% for name, count in r.top_tags %}{{ loop.index }}. {{ name | md }} - {{ count }}
{% else %}_No tags._
{% endfor %}{% endif %}
### Outstanding Action Items
{% if r.action_items is none %}
_n/a: action items come from post-mortems, which are not available yet._
{% elif r.action_items %}
| Action | Owner | Due | Status |
|---|---|---|---|
{% for a in r.action_items -%}
| {{ a.title | md }} | {{ (a.owner or "-") | md }} | {{ a.due_at | due }} | {{ a.status | md }} |
{% endfor %}{% else %}
None.
{% endif %}
### Process Improvements
_Changes made this month based on learnings: to be written by the reviewer._

{% if r.charts %}
### Charts

![Incidents by severity]({{ r.charts.severity | datauri }})

![Time to resolve]({{ r.charts.mttr | datauri }})
{% if r.charts.budget %}
![Error budget spent]({{ r.charts.budget | datauri }})
{% endif %}{% endif %}"""

HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Incident Review: {{ r.title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 56rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .75rem; text-align: left; }
td.n, th.n { text-align: right; }
.note { color: #666; font-style: italic; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>Incident Review: {{ r.title }}</h1>
<p class="note">Period: {{ r.start | day }} to {{ r.last_day | day }} (UTC)\
{% if r.partial %}, figures as of {{ r.as_of | stamp }}{% endif %}. Drills are not counted\
{% if r.drills_excluded %} ({{ r.drills_excluded }} this month){% endif %}.</p>

<h2>Summary</h2>
<ul>
<li>Total incidents: <strong>{{ r.total }}</strong>{% if not r.total %} (none was detected \
this month){% endif %}</li>
<li>{% for name, count in r.by_severity.items() %}{{ name }}: {{ count }}\
{% if not loop.last %}, {% endif %}{% endfor %}</li>
<li>MTTR average: {{ r.mttr.mean | dur }} (median {{ r.mttr.median | dur }},
p90 {{ r.mttr.p90 | dur }}; detection to resolution)</li>
<li>Error budget remaining: {% if r.budgets %}{% for b in r.budgets %}{{ b.service }}
{{ b.remaining_percent | pct }}{% if not loop.last %}, {% endif %}{% endfor %}\
{% else %}no SLOs defined{% endif %}</li>
</ul>

<h2>Time to resolve by severity</h2>
{% if r.mttr_by_severity %}
<table>
<tr><th>Severity</th><th class="n">Resolved</th><th class="n">Mean</th>
<th class="n">Median</th><th class="n">p90</th><th class="n">Target</th>
<th>Mean within target</th></tr>
{% for name, s in r.mttr_by_severity.items() %}
<tr><td>{{ name }}</td><td class="n">{{ s.count }}</td><td class="n">{{ s.mean | dur }}</td>
<td class="n">{{ s.median | dur }}</td><td class="n">{{ s.p90 | dur }}</td>
<td class="n">{{ r.resolve_targets.get(name) | dur }}</td><td>{{ r.target_met(name) }}</td></tr>
{% endfor %}
</table>
{% else %}
<p class="note">{{ r.nothing_resolved }}</p>
{% endif %}

<h2>Error budgets</h2>
{% if r.budgets %}
<table>
<tr><th>Service</th><th class="n">Objective</th><th class="n">Availability</th>
<th class="n">Budget</th><th class="n">Spent</th><th class="n">Remaining</th></tr>
{% for b in r.budgets %}
<tr><td>{{ b.service }}</td>
<td class="n">{{ b.objective }} % over {{ b.window_seconds | dur }}</td>
<td class="n">{{ b.availability_percent | avail }}</td>
<td class="n">{{ b.budget_seconds | dur }}</td>
<td class="n">{{ b.consumed_seconds | dur }}</td>
<td class="n">{{ b.remaining_percent | pct }}</td></tr>
{% endfor %}
</table>
{% else %}
<p class="note">No service level objectives are defined in the policy.</p>
{% endif %}

<h2>Top Incident Categories</h2>
{% if r.categories %}
{% set ranked = r.categories %}
{% else %}
<p class="note">{{ r.categories_note }} Most frequent incident tags instead:</p>
{% set ranked = r.top_tags %}
{% endif %}
{% if ranked %}<ol>{% for name, count in ranked %}<li>{{ name }} - {{ count }}</li>{% endfor %}</ol>
{% else %}<p class="note">None.</p>{% endif %}

<h2>Outstanding Action Items</h2>
{% if r.action_items is none %}
<p class="note">n/a: action items come from post-mortems, which are not available yet.</p>
{% elif r.action_items %}
<table>
<tr><th>Action</th><th>Owner</th><th>Due</th><th>Status</th></tr>
{% for a in r.action_items %}
<tr><td>{{ a.title }}</td><td>{{ a.owner or "-" }}</td><td>{{ a.due_at | due }}</td>
<td>{{ a.status }}</td></tr>
{% endfor %}
</table>
{% else %}
<p>None.</p>
{% endif %}

<h2>Process Improvements</h2>
<p class="note">Changes made this month based on learnings: to be written by the reviewer.</p>

{% if r.charts %}
<h2>Charts</h2>
<figure>{{ r.charts.severity | safe }}</figure>
<figure>{{ r.charts.mttr | safe }}</figure>
{% if r.charts.budget %}<figure>{{ r.charts.budget | safe }}</figure>{% endif %}
{% endif %}
</body>
</html>
"""
