"""Declarative rules: samples in, fault state changes out.

    from monitor.rules.model import load_rules           # shipped + /etc/netvigil/rules.d
    from monitor.rules.engine import RuleEngine
    rules = load_rules(settings.rules)
    engine = RuleEngine(rules, devices, settings.rules)
    transitions = engine.evaluate(samples, heightened=False)

expr.py (conditions, templates), model.py (rule files), engine.py (state), settings.py
(`rules:` settings); `netvigil rules test|list` is monitor/cli/rules.py. Nothing is imported
here on purpose: loading the settings (monitor.config imports monitor.rules.settings) need not
load the engine.
"""
