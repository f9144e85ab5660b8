"""Notifications: from fault alerts to messages on channels.

    settings.py    NotificationSettings (composed by monitor.config under `notifications:`)
    message.py     titles, bodies and the webhook JSON body (documented there)
    channels.py    one delivery attempt: apprise URL or plain webhook; keeps secrets out of logs
    outbox.py      SQLite outbox, sent-log and escalation timers (survive restarts)
    dispatcher.py  AlertDispatcher: grouping, routing, rate limits, retries, escalation

Nothing is imported here, so that loading the settings (monitor.config imports
monitor.notify.settings) does not load the dispatcher, aiohttp or apprise.
"""
