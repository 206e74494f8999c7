"""LocalCarto's HTTP layer: the route table, one handlers module per API, auth, bodies, faults.

* ``app.py``: the route table and the ASGI app built from it.
* ``routing.py``: routes as data and the router that matches requests against them.
* ``imports.py``, ``sql.py``: the handlers of the Import API and the SQL API.
* ``syncs.py``, ``viz.py``, ``exports.py``: sync tables, visualizations and tables, and
  visualization exports (``rails.py``: what these Rails endpoints share).
* ``arcgis.py``: the fake ArcGIS REST server over the user's tables.
* ``auth.py``: keys and where each service reads them from.
* ``bodies.py``: query strings and request bodies, uploads streamed to disk.
* ``faultlayer.py``: the outermost ASGI layer that counts requests and injects faults.
* ``accesslog.py``: the access log, with keys masked.
"""
