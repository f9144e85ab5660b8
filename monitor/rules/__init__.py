"""Declarative rules: samples in, fault state changes out.

    from monitor.rules.model import load_rules           # shipped + /etc/netvigil/rules.d
    from monitor.rules.engine import RuleEngine
    rules = load_rules(settings.rules)
    engine = RuleEngine(rules, devices, settings.rules)
    transitions = engine.evaluate(samples, heightened=False)

expr.py (conditions, templates), model.py (rule files), engine.py (state), settings.py
(`rules:` settings), cli.py (`netvigil rules test|list`). Nothing is imported here on
purpose: monitor/config.py imports monitor.rules.settings, and model.py imports
monitor.config, so an eager import here would be circular.
"""
