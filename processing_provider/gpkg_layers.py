"""Replace one layer of a user's GeoPackage, keeping every other layer, in one SQLite transaction.

The run writes its layer (and its default style) into a staged GeoPackage of its own; at
commit this copies that layer and its `layer_styles` rows into the target. Inside one
transaction nothing is visible until the commit, and a failure (full disk, a kill) rolls
back: the user's other layers, and the old layer, stay exactly as they were. Our own rows are
written directly (also in the staged file: `store_default_style`), so QGIS 3.22's "a style with this name exists, overwrite?" question (a modal
dialog that hangs `qgis_process`) can never come up.
"""
from osgeo import gdal, ogr

from ..balance_core.errors import OutputWriteError
from ..balance_core.gpkg_geometry import quote_identifier as _quote

STYLES = "layer_styles"


class _Failed(Exception):
    pass


def _ok(result, what: str):
    """OGR's return codes (0 = done) and objects (None = failed), with GDAL's own reason."""
    if result is None or (isinstance(result, int) and result != 0):
        raise _Failed(f"{what} failed: {gdal.GetLastErrorMsg() or 'no reason given'}")
    return result


def layer_count(path: str, layer: str) -> int:
    """Features in `layer` of `path` (-1 when it cannot be read): the check that a write really happened."""
    dataset = ogr.Open(path)
    found = dataset.GetLayerByName(layer) if dataset is not None else None
    return found.GetFeatureCount() if found is not None else -1


def first_layer_name(path: str):
    """The layer QGIS opens from a GeoPackage given without a layer name (None when unreadable)."""
    dataset = ogr.Open(path)
    return dataset.GetLayer(0).GetName() if dataset is not None and dataset.GetLayerCount() else None


def _layer_index(dataset, name: str) -> int:
    for i in range(dataset.GetLayerCount()):
        if dataset.GetLayer(i).GetName() == name:
            return i
    return -1


def _copy_fields(source, target) -> None:
    definition = source.GetLayerDefn()
    for i in range(definition.GetFieldCount()):
        _ok(target.CreateField(definition.GetFieldDefn(i)), "adding a field")


def _copy_styles(source_ds, target_ds, name: str) -> None:
    """Our layer_styles rows for `name` replace the target's rows of the same style name."""
    styles = source_ds.GetLayerByName(STYLES)
    rows = [feature for feature in styles if feature.GetField("f_table_name") == name] if styles is not None else []
    if not rows:
        return
    target = _styles_table(target_ds)
    names = {row.GetField("styleName") for row in rows}
    becomes_default = any(row.GetField("useAsDefault") for row in rows)
    replaced, demoted = [], []  # through OGR's feature API, not SQL text built from names in the file
    target.SetAttributeFilter(None)
    target.ResetReading()
    for feature in target:
        if feature.GetField("f_table_name") != name:
            continue
        if feature.GetField("styleName") in names:
            replaced.append(feature.GetFID())
        elif becomes_default and feature.GetField("useAsDefault"):
            demoted.append(feature)
    for fid in replaced:
        _ok(target.DeleteFeature(fid), "replacing the stored style")
    for feature in demoted:
        feature.SetField("useAsDefault", 0)
        _ok(target.SetFeature(feature), "storing the style")
    definition = target.GetLayerDefn()
    for row in rows:
        copy = ogr.Feature(definition)
        copy.SetFrom(row)
        copy.SetFID(-1)
        _ok(target.CreateFeature(copy), "storing the style")


STYLE_FIELDS = (("f_table_catalog", 256), ("f_table_schema", 256), ("f_table_name", 256), ("f_geometry_column", 256),
                ("styleName", 30), ("styleQML", 0), ("styleSLD", 0), ("useAsDefault", -1), ("description", 0),
                ("owner", 30), ("ui", 30), ("update_time", -2))


def _styles_table(dataset):
    """The GeoPackage's layer_styles table, created with QGIS's own columns when missing."""
    table = dataset.GetLayerByName(STYLES)
    if table is not None:
        return table
    table = _ok(dataset.CreateLayer(STYLES, geom_type=ogr.wkbNone, options=["FID=id"]), "creating layer_styles")
    for name, width in STYLE_FIELDS:
        if width == -1:
            field = ogr.FieldDefn(name, ogr.OFTInteger)
            field.SetSubType(ogr.OFSTBoolean)
        elif width == -2:
            field = ogr.FieldDefn(name, ogr.OFTDateTime)
            field.SetDefault("CURRENT_TIMESTAMP")
        else:
            field = ogr.FieldDefn(name, ogr.OFTString)
            field.SetWidth(width)
        _ok(table.CreateField(field), "creating layer_styles")
    return table


def store_default_style(path: str, name: str, style_name: str, qml: str, sld: str, description: str) -> None:
    """Store a style for layer `name` of the (staged, fresh) GeoPackage `path` as its default."""
    try:
        dataset = _ok(ogr.Open(path, update=1), "opening the GeoPackage")
        layer = _ok(dataset.GetLayerByName(name), "finding the layer")
        table = _styles_table(dataset)
        row = ogr.Feature(table.GetLayerDefn())
        for field, value in (("f_table_catalog", ""), ("f_table_schema", ""), ("f_table_name", name),
                             ("f_geometry_column", layer.GetGeometryColumn()), ("styleName", style_name),
                             ("styleQML", qml), ("styleSLD", sld), ("useAsDefault", 1), ("description", description),
                             ("owner", ""), ("ui", "")):
            row.SetField(field, value)
        _ok(table.CreateFeature(row), "storing the style")
        dataset = None
    except _Failed as exc:
        raise OutputWriteError(f"Cannot store the layer style in {path!r}: {exc}.") from exc


def _sql(dataset, statement: str, what: str) -> None:
    """Run one SQL statement on GDAL's own connection (its SQLite functions, e.g. the R-tree triggers' ST_MinX);
    GDAL reports a failure as an error, not a return value."""
    gdal.ErrorReset()
    try:
        result = dataset.ExecuteSQL(statement)
    except RuntimeError as exc:  # gdal.UseExceptions() on
        raise _Failed(f"{what} failed: {exc}") from exc
    if result is not None:
        dataset.ReleaseResultSet(result)
    if gdal.GetLastErrorType() >= gdal.CE_Failure:
        raise _Failed(f"{what} failed: {gdal.GetLastErrorMsg() or 'no reason given'}")


def _count(dataset, table: str) -> int:
    result = dataset.ExecuteSQL(f"SELECT count(*) FROM {table}")
    try:
        return int(result.GetNextFeature().GetField(0)) if result is not None else -1
    finally:
        if result is not None:
            dataset.ReleaseResultSet(result)


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def replace_layer(staged: str, name: str, target: str) -> None:
    """Put layer `name` of `staged` into the existing GeoPackage `target`, replacing a layer of that name.

    OGR makes the layer (fields, CRS, spatial index) in the target, inside one transaction; its rows go in
    with one INSERT … SELECT from the staged file attached to GDAL's own connection, so the R-tree
    triggers fill the spatial index as they would for OGR's own writes."""
    try:
        source_ds = _ok(ogr.Open(staged), "reading the new layer")
        source = _ok(source_ds.GetLayerByName(name), "reading the new layer")
        expected = source.GetFeatureCount()
        target_ds = _ok(ogr.Open(target, update=1), "opening the GeoPackage")
        if target_ds.GetDriver().GetName() != "GPKG":
            raise _Failed("it is not a GeoPackage")
        attached = False
        try:
            _sql(target_ds, f"ATTACH DATABASE {_text(staged)} AS staged_layer", "reading the new layer")
            attached = True
            _ok(target_ds.StartTransaction(), "starting a transaction")
            try:
                index = _layer_index(target_ds, name)
                if index >= 0:
                    _ok(target_ds.DeleteLayer(index), "removing the old layer")
                geometry = source.GetGeometryColumn() or "geom"
                fid = source.GetFIDColumn() or "fid"
                options = [f"GEOMETRY_NAME={geometry}", f"FID={fid}"]
                layer = _ok(target_ds.CreateLayer(name, srs=source.GetSpatialRef(), geom_type=source.GetGeomType(),
                                                  options=options), "creating the layer")
                _copy_fields(source, layer)
                definition = source.GetLayerDefn()
                columns = [fid] + ([geometry] if source.GetGeomType() != ogr.wkbNone else [])
                columns += [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
                listed = ", ".join(_quote(c) for c in columns)
                _sql(target_ds, f"INSERT INTO {_quote(name)} ({listed}) SELECT {listed} FROM staged_layer.{_quote(name)}",
                     "writing the patches")
                copied = _count(target_ds, _quote(name))
                if copied != expected:
                    raise _Failed(f"{copied} of {expected} patches copied")
                if source.GetGeomType() != ogr.wkbNone:
                    _sql(target_ds, "UPDATE gpkg_contents SET (min_x, min_y, max_x, max_y) = (SELECT min_x, min_y, "
                                    "max_x, max_y FROM staged_layer.gpkg_contents WHERE lower(table_name) = "
                                    f"lower({_text(name)})) WHERE lower(table_name) = lower({_text(name)})",
                         "storing the extent")
                _copy_styles(source_ds, target_ds, name)
                _ok(target_ds.CommitTransaction(), "committing")
            except BaseException:
                target_ds.RollbackTransaction()
                raise
        finally:
            if attached:
                target_ds.ExecuteSQL("DETACH DATABASE staged_layer")
            target_ds = None  # closes the file
    except _Failed as exc:
        raise OutputWriteError(
            f"Cannot replace layer '{name}' in {target!r}: {exc}. The GeoPackage was left as it was."
        ) from exc
